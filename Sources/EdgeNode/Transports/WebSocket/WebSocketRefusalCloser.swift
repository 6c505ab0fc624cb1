import HeraldProtocol
import NIOCore
import NIOWebSocket

/// The only handler of an upgrade that was accepted to be refused: sends one close frame with the
/// refusal's code and reason (browsers show both to the page, unlike an HTTP status), waits for
/// the client's close, and cuts the connection then or after a grace period. No session exists.
final class WebSocketRefusalCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// The longest reason a close frame may carry (RFC 6455 §5.5: 125-byte control payloads).
    static let maximumReasonBytes = 123

    private let code: CloseCode
    private let reason: String
    private let grace: TimeAmount

    init(refusal: HTTPRefusal, grace: TimeAmount = .seconds(2)) {
        self.code = Self.closeCode(for: refusal)
        self.reason = Self.reason(for: refusal)
        self.grace = grace
    }

    /// The close code of a refusal: 4003 for an expired token, 1012 for a draining node (reconnect
    /// at once; the load balancer picks another node), else 4000 + the HTTP status (4400, 4401,
    /// 4403, 4503).
    static func closeCode(for refusal: HTTPRefusal) -> CloseCode {
        if refusal.code == .tokenExpired { return .tokenExpired }
        if refusal.code == .draining { return .serviceRestart }
        let status = Int(refusal.status.code)
        return (400...599).contains(status) ? CloseCode(rawValue: UInt16(4000 + status)) : .unauthorized
    }

    /// `<error code>: <message>`, cut to fit a close frame.
    static func reason(for refusal: HTTPRefusal) -> String {
        var reason = ""
        for scalar in "\(refusal.code.rawValue): \(refusal.message)".unicodeScalars {
            guard reason.utf8.count + String(scalar).utf8.count <= maximumReasonBytes else { break }
            reason.unicodeScalars.append(scalar)
        }
        return reason
    }

    func handlerAdded(context: ChannelHandlerContext) {
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code.rawValue)
        data.writeString(reason)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: nil)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if unwrapInboundIn(data).opcode == .connectionClose { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
