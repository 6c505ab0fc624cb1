import HeraldProtocol
import Logging
import NIOCore
import NIOWebSocket

/// One client's WebSocket session after the upgrade: answers pings, runs the `ClientSession`
/// protocol, receives fan-out writes, and closes with a clear code on abuse or overflow.
///
/// Fan-out writes bypass the frame encoder: they are already complete frames, written on the
/// encoder's context so the shared bytes go to the socket untouched.
final class WebSocketConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Limits and identity for one connection.
    struct Settings: Sendable {
        var connectionID: String
        var nodeID: String
        var heartbeatSeconds: Int
        var maxSubscriptions: Int
        var messagesPerSecond: Int
        var messageBurst: Int
        /// How long a closing connection may take to flush its close frame before it is cut.
        var closeGrace: TimeAmount = .seconds(2)
    }

    private enum State { case open, closing }

    let identity: ClientIdentity
    private let settings: Settings
    private let shard: ConnectionShard
    private let metrics: NodeMetrics
    private let logger: Logger
    private var session: ClientSession
    private var state = State.open
    private var context: ChannelHandlerContext?
    private var rawContext: ChannelHandlerContext?
    private var awaitingFlush = false
    private var registered = false
    private(set) var lastActivity: NIODeadline

    init(identity: ClientIdentity, settings: Settings, shard: ConnectionShard, metrics: NodeMetrics, logger: Logger) {
        let now = NIODeadline.now()
        self.identity = identity
        self.settings = settings
        self.shard = shard
        self.metrics = metrics
        self.logger = logger
        self.lastActivity = now
        self.session = ClientSession(
            identity: identity, maxSubscriptions: settings.maxSubscriptions,
            messagesPerSecond: settings.messagesPerSecond, burst: settings.messageBurst, now: now)
    }

    var subscribedChannels: Set<String> { session.subscriptions }

    func isSubscribed(to channel: String) -> Bool { session.subscriptions.contains(channel) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.rawContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        send(.connected(
            connectionID: settings.connectionID, node: settings.nodeID, account: identity.account,
            user: identity.user, heartbeat: settings.heartbeatSeconds), context: context)
        metrics.connections.increment()
        metrics.connectionsOpened.increment()
        registered = true
        shard.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        unregister()
        self.context = nil
        self.rawContext = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closing
        unregister()
        context.fireChannelInactive()
    }

    /// Stops deliveries to this connection; safe to call more than once.
    private func unregister() {
        guard registered else { return }
        registered = false
        shard.remove(self)
        metrics.connections.decrement()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastActivity = .now()
        switch frame.opcode {
        case .text:
            guard state == .open else { return }
            for action in session.receive(text: frame.unmaskedData.readableBytesView, now: lastActivity) {
                perform(action, context: context)
            }
        case .binary:
            close(code: .unsupportedData, reason: "binary frames are not supported: send JSON text")
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            receivedClose(frame, context: context)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments:
            close(code: .messageTooBig, reason: "message too big")
        case is NIOWebSocketFrameAggregator.Error:
            close(code: .protocolError, reason: "invalid fragmentation")
        default:
            logger.debug("connection error", metadata: ["error": "\(error)"])
            close(code: .internalError, reason: "connection error")
        }
    }

    private func perform(_ action: ClientSession.Action, context: ChannelHandlerContext) {
        switch action {
        case .send(let message):
            if case .error = message { metrics.clientErrors.increment() }
            send(message, context: context)
        case .sendBareText(let text):
            let buffer = context.channel.allocator.buffer(string: text)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
        case .subscribe(let channel):
            shard.subscribe(self, to: channel)
        case .unsubscribe(let channel):
            shard.unsubscribe(self, from: channel)
        case .close(let code, let reason):
            close(code: code, reason: reason)
        }
    }

    private func send(_ message: ServerMessage, context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(bytes: message.encoded())
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }

    /// Queues a pre-framed event; returns false when the connection did not take it.
    /// A connection still over its outbound limit when the next event arrives is closed with 4001.
    func write(_ frame: ByteBuffer) -> Bool {
        guard state == .open, let rawContext else { return false }
        if !rawContext.channel.isWritable && awaitingFlush {
            // Our own unflushed burst, not the client, may be what crossed the limit.
            rawContext.flush()
        }
        guard rawContext.channel.isWritable else {
            metrics.slowConsumerCloses.increment()
            logger.info("closing slow consumer", metadata: ["connection.id": "\(settings.connectionID)"])
            close(code: .slowConsumer, reason: "outbound buffer full: reconnect")
            return false
        }
        rawContext.write(NIOAny(frame), promise: nil)
        if !awaitingFlush {
            awaitingFlush = true
            shard.needsFlush(self)
        }
        return true
    }

    func flush() {
        awaitingFlush = false
        rawContext?.flush()
    }

    /// Sends a close frame with `code`, stops deliveries, and cuts the TCP connection once the
    /// frame is written or after the close grace, whichever comes first.
    func close(code: CloseCode, reason: String) {
        guard state == .open, let context else { return }
        state = .closing
        unregister()
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code.rawValue)
        data.writeString(reason)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))).whenComplete { _ in
            channel.close(promise: nil)
        }
        context.eventLoop.scheduleTask(in: settings.closeGrace) { channel.close(promise: nil) }
    }

    /// The client closed: answer with a normal close (RFC 6455 §5.5.1), or finish our own close.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard state == .open else {
            context.close(promise: nil)
            return
        }
        close(code: .normal, reason: "")
    }
}
