import HeraldProtocol
import NIOCore

/// What a session needs from the connection it runs on. A transport only decodes what the client
/// sends (handing it to its ``Session``) and encodes what the session writes; the session decides
/// what to send, when, and whether the connection keeps up.
protocol SessionTransport: AnyObject {
    /// Which of an event's pre-encoded frames this transport writes (``FrameEncodings``).
    var encoding: FrameEncodings.Index { get }
    /// Whether the bytes waiting to be written are under the connection's outbound limit.
    var isWritable: Bool { get }
    /// Writes an event's frame, already encoded for this transport and shared by every recipient.
    func writeEncoded(_ frame: ByteBuffer)
    /// Encodes and writes one event payload for this connection alone (a replayed event).
    func writeEvent(_ payload: ByteBuffer)
    /// Encodes and writes a server message.
    func writeMessage(_ message: ServerMessage)
    /// Writes raw text the client protocol answers with (the bare `pong`).
    func writeText(_ text: String)
    /// Answers a transport-level ping (a WebSocket ping frame) with its payload.
    func writePong(_ payload: ByteBuffer)
    func flush()
    /// Ends the connection: tells the client why with `code`, then closes.
    func close(code: CloseCode, reason: String)
}
