import HeraldProtocol
import Logging
import NIOCore
import NIOWebSocket

/// Engine.IO over one WebSocket: each text frame is one packet, handed to its
/// ``SocketIOTransport`` on the session's loop; writes from the session arrive through an
/// ``EngineIOWebSocketCarrier``. Binary frames (Socket.IO attachments) are not supported; RFC
/// 6455 violations close the socket with their code, as on `/ws`.
final class EngineIOWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum State { case open, closing }

    private let transport: NIOLoopBound<SocketIOTransport>
    private let transportLoop: EventLoop
    private let logger: Logger
    private var state = State.open
    private var context: ChannelHandlerContext?
    /// The frame encoder's context: writes here skip the encoder.
    private var rawContext: ChannelHandlerContext?
    /// Set once added: the handle the session writes through.
    private(set) var carrier: EngineIOWebSocketCarrier?
    private var reportedClosed = false

    init(transport: NIOLoopBound<SocketIOTransport>, transportLoop: EventLoop, logger: Logger) {
        self.transport = transport
        self.transportLoop = transportLoop
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.rawContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        let carrier = EngineIOWebSocketCarrier(channel: context.channel, handler: self)
        self.carrier = carrier
        toTransport { $0.attached(carrier) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        reportClosed()
        self.context = nil
        self.rawContext = nil
        carrier = nil  // the carrier holds this handler
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closing
        reportClosed()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        guard let carrier else { return }
        toTransport { $0.writabilityChanged(isWritable: isWritable, carrier: carrier) }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let carrier, state == .open else { return }
        switch frame.opcode {
        case .text:
            let packet = EngineIOPacket(frame.unmaskedData.readableBytesView)
            toTransport { $0.receive(packet, from: carrier) }
        case .binary:
            toTransport { $0.receiveUnsupported(from: carrier) }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            close(code: .normal, reason: "", grace: .seconds(2))
            reportClosed()
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let (code, reason) = WebSocketClosing.closeCode(for: error) ?? (.internalError, "connection error")
        if code == .internalError { logger.debug("engine.io connection error", metadata: ["error": "\(error)"]) }
        close(code: code, reason: reason, grace: .seconds(2))
        reportClosed()
    }

    /// Tells the session once that this socket is gone.
    private func reportClosed() {
        guard !reportedClosed, let carrier else { return }
        reportedClosed = true
        toTransport { $0.carrierClosed(carrier) }
    }

    private func toTransport(_ body: @escaping (SocketIOTransport) -> Void) {
        if transportLoop.inEventLoop {
            body(transport.value)
        } else {
            let transport = self.transport
            nonisolated(unsafe) let body = body
            transportLoop.execute { body(transport.value) }
        }
    }

    // MARK: Writes (from the carrier, on this loop)

    func write(_ frame: ByteBuffer) {
        guard state == .open else { return }
        rawContext?.write(NIOAny(frame), promise: nil)
    }

    func flush() {
        rawContext?.flush()
    }

    func close(code: CloseCode, reason: String, grace: TimeAmount) {
        guard state == .open, let context else { return }
        state = .closing
        WebSocketClosing.close(context, code: code, reason: reason, grace: grace)
    }
}
