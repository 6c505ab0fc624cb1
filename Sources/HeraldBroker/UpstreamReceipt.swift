/// What a backend said to an accepted client message.
public enum UpstreamReceipt: Sendable, Equatable {
    /// Accepted (appended to the stream, or a 2xx without a body): the client gets `ack`.
    case accepted
    /// Accepted with an answer (a 2xx body, a JSON text): the client gets `reply` with it as `data`.
    case reply([UInt8])
}
