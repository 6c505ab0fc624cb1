import HeraldProtocol
import NIOCore
import NIOWebSocket

/// How a server-side WebSocket ends, shared by every transport over WebSocket: the close code a
/// pipeline error maps to, and the close frame followed by the cut of the TCP connection.
enum WebSocketClosing {
    /// The close code and reason for an error from the frame pipeline; nil for an error that is
    /// not the client's framing (the caller decides).
    static func closeCode(for error: any Error) -> (CloseCode, String)? {
        switch error {
        case let violation as WebSocketFrameValidator.Violation:
            return (violation.closeCode, violation.reason)
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments,
            NIOWebSocketError.invalidFrameLength:
            return (.messageTooBig, "message too big")
        case is NIOWebSocketFrameAggregator.Error, is NIOWebSocketError:
            return (.protocolError, "invalid framing")
        default:
            return nil
        }
    }

    /// Sends a close frame with `code` through `context`, and cuts the TCP connection once the
    /// frame is written or after `grace`, whichever comes first.
    static func close(_ context: ChannelHandlerContext, code: CloseCode, reason: String, grace: TimeAmount) {
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code.rawValue)
        data.writeString(reason)
        let channel = context.channel
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        context.writeAndFlush(NIOAny(frame)).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
    }
}
