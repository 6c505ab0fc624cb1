import NIOCore

/// Where client messages that are not Herald's own go: a Redis stream that backends consume with
/// consumer groups, or an HTTP endpoint. The edge node only sees this abstraction; the executable
/// chooses the implementation.
public protocol UpstreamSink: Sendable {
    /// Hands `message` to the backend. Succeeds only once the backend durably accepted it (the
    /// stream entry exists, or the endpoint answered 2xx); fails with an ``UpstreamError``.
    /// Never blocks the calling event loop.
    func send(_ message: UpstreamMessage) -> EventLoopFuture<UpstreamReceipt>
    /// Names the destination in logs, e.g. `redis stream herald:upstream`.
    var destination: String { get }
    /// Stops sending and releases connections; sends in flight fail.
    func shutdown() -> EventLoopFuture<Void>
}
