import HeraldProtocol
import Logging
import NIOCore
import NIOWebSocket

/// A session's WebSocket connection after the upgrade: decodes client frames for its ``Session``
/// and encodes what the session writes. Text messages go to the session; ping frames too (they
/// count in flood control); binary frames and protocol violations close with their RFC 6455 code.
///
/// Text frames are written below the frame encoder, already complete: an event's frame is
/// shared by every recipient and goes to the socket untouched.
final class WebSocketTransport: ChannelInboundHandler, RemovableChannelHandler, SessionTransport {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum State { case open, closing }

    let session: Session
    let encoding: FrameEncodings.Index
    /// How long a closing connection may take to flush its close frame before it is cut.
    private let closeGrace: TimeAmount
    private let logger: Logger
    private var state = State.open
    private var context: ChannelHandlerContext?
    /// The frame encoder's context: writes here skip the encoder.
    private var rawContext: ChannelHandlerContext?

    init(session: Session, encoding: FrameEncodings.Index, closeGrace: TimeAmount = .seconds(2), logger: Logger) {
        self.session = session
        self.encoding = encoding
        self.closeGrace = closeGrace
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.rawContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        session.start(on: self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session.transportClosed()
        self.context = nil
        self.rawContext = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closing
        session.transportClosed()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.writabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    // MARK: Decoding

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            guard state == .open else { return }
            session.receive(text: frame.unmaskedData.readableBytesView)
        case .binary:
            session.receivedActivity()
            session.close(code: .unsupportedData, reason: "binary frames are not supported: send JSON text")
        case .ping:
            session.receivePing(frame.unmaskedData)
        case .connectionClose:
            session.receivedActivity()
            receivedClose(frame, context: context)
        default:
            session.receivedActivity()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let (code, reason) = WebSocketClosing.closeCode(for: error) else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            session.close(code: .internalError, reason: "connection error")
            return
        }
        session.close(code: code, reason: reason)
    }

    /// The client closed: echo its status code (RFC 6455 §5.5.1; the frame validator checked
    /// it), or finish our own close.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard state == .open else {
            context.close(promise: nil)
            return
        }
        let code = frame.unmaskedData.getInteger(at: frame.unmaskedData.readerIndex, as: UInt16.self).map(CloseCode.init(rawValue:))
        session.close(code: code ?? .normal, reason: "")
    }

    // MARK: Encoding (SessionTransport)

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func writeEncoded(_ frame: ByteBuffer) {
        rawContext?.write(NIOAny(frame), promise: nil)
    }

    func writeEvent(_ payload: ByteBuffer) {
        guard let rawContext else { return }
        rawContext.write(NIOAny(WebSocketTextFrame.encode(payload, allocator: rawContext.channel.allocator)), promise: nil)
    }

    func writeMessage(_ message: ServerMessage) {
        guard let rawContext else { return }
        let payload = rawContext.channel.allocator.buffer(bytes: message.encoded())
        rawContext.write(NIOAny(WebSocketTextFrame.encode(payload, allocator: rawContext.channel.allocator)), promise: nil)
    }

    func writeText(_ text: String) {
        guard let rawContext else { return }
        let payload = rawContext.channel.allocator.buffer(string: text)
        rawContext.write(NIOAny(WebSocketTextFrame.encode(payload, allocator: rawContext.channel.allocator)), promise: nil)
    }

    func writePong(_ payload: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
    }

    func flush() {
        rawContext?.flush()
    }

    /// Sends a close frame with `code`, and cuts the TCP connection once the frame is written or
    /// after the close grace, whichever comes first.
    func close(code: CloseCode, reason: String) {
        guard state == .open, let context else { return }
        state = .closing
        WebSocketClosing.close(context, code: code, reason: reason, grace: closeGrace)
    }
}
