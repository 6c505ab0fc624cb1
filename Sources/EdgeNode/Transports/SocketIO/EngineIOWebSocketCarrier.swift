import HeraldProtocol
import NIOCore

/// A Socket.IO session's handle on the WebSocket that carries its packets. The session may live
/// on another event loop than the socket (a polling session upgraded over a new connection), so
/// every call hops to the socket's loop when it is not already there; the hop keeps order.
final class EngineIOWebSocketCarrier: Sendable {
    let channel: Channel
    private let handler: NIOLoopBound<EngineIOWebSocketHandler>

    init(channel: Channel, handler: EngineIOWebSocketHandler) {
        self.channel = channel
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// Thread-safe: the channel's writability is an atomic.
    var isWritable: Bool { channel.isWritable }

    /// Writes a complete text frame (below the frame encoder).
    func write(_ frame: ByteBuffer) {
        onLoop { $0.write(frame) }
    }

    /// Frames and writes one packet's text.
    func write(packet: ByteBuffer) {
        write(WebSocketTextFrame.encode(packet, allocator: channel.allocator))
    }

    func flush() {
        onLoop { $0.flush() }
    }

    /// A close frame with `code`, then the TCP connection is cut (at once after the frame is
    /// written, at the latest after `grace`).
    func close(code: CloseCode, reason: String, grace: TimeAmount) {
        onLoop { $0.close(code: code, reason: reason, grace: grace) }
    }

    private func onLoop(_ body: @escaping (EngineIOWebSocketHandler) -> Void) {
        if channel.eventLoop.inEventLoop {
            body(handler.value)
        } else {
            let handler = self.handler
            nonisolated(unsafe) let body = body
            channel.eventLoop.execute { body(handler.value) }
        }
    }
}
