import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import NIOWebSocket
import Presence

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
        /// The account's history position at connect time, sent in the `connected` frame: the
        /// connection is owed every event after it.
        var startOffset: StreamOffset?
        /// Sub-channels named at connect (`?channels=`), joined before anything is sent.
        var channels: Set<String> = []
        /// `?since=` from the upgrade request: replay from there right after `connected`.
        var since: String?
        var maxReplayEvents: Int
        /// Bytes of live events held during a replay before the client counts as too slow.
        var maxHeldBytes: Int
        /// How long a closing connection may take to flush its close frame before it is cut.
        var closeGrace: TimeAmount = .seconds(2)
    }

    private enum State { case open, closing }

    let identity: ClientIdentity
    private let settings: Settings
    private let shard: ConnectionShard
    private let broker: any EventBroker
    private let presence: PresenceTracker
    private var recovery: ConnectionRecovery
    /// A replay page to request once the channel is writable again.
    private var pendingRead: (after: StreamOffset, limit: Int)?
    private let metrics: NodeMetrics
    private let logger: Logger
    private var session: ClientSession
    private var state = State.open
    private var context: ChannelHandlerContext?
    private var rawContext: ChannelHandlerContext?
    private var awaitingFlush = false
    private var registered = false
    private(set) var lastActivity: NIODeadline

    init(
        identity: ClientIdentity, settings: Settings, shard: ConnectionShard, broker: any EventBroker,
        presence: PresenceTracker, metrics: NodeMetrics, logger: Logger
    ) {
        let now = NIODeadline.now()
        self.identity = identity
        self.settings = settings
        self.shard = shard
        self.broker = broker
        self.presence = presence
        self.metrics = metrics
        self.logger = logger
        self.lastActivity = now
        self.session = ClientSession(
            identity: identity, maxSubscriptions: settings.maxSubscriptions,
            messagesPerSecond: settings.messagesPerSecond, burst: settings.messageBurst, now: now,
            typingTTL: .milliseconds(presence.timing.typingTTL), channels: settings.channels)
        self.recovery = ConnectionRecovery(
            start: settings.startOffset, maxReplayEvents: settings.maxReplayEvents, maxHeldBytes: settings.maxHeldBytes)
    }

    var subscribedChannels: Set<String> { session.subscriptions }

    /// This connection as a presence entry.
    var presenceMember: PresenceMember { PresenceMember(user: identity.user, connection: settings.connectionID) }

    func isSubscribed(to channel: String) -> Bool { session.subscriptions.contains(channel) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.rawContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        send(.connected(
            connectionID: settings.connectionID, node: settings.nodeID, account: identity.account,
            user: identity.user, heartbeat: settings.heartbeatSeconds, offset: settings.startOffset?.description), context: context)
        metrics.connections.increment()
        metrics.connectionsOpened.increment()
        registered = true
        let coverage = shard.add(self, start: settings.startOffset)
        if let since = settings.since {
            resume(since: since, context: context)
        } else if let start = settings.startOffset, Self.isBehind(start, coverage) {
            // Events published between the handshake and joining the fan-out went to the
            // account's other connections already: replay them for this one.
            begin(.joinGap, after: start, context: context)
        }
    }

    /// Whether events after `offset` may have been delivered on this node before `coverage`.
    private static func isBehind(_ offset: StreamOffset, _ coverage: StreamOffset?) -> Bool {
        ConnectionRecovery.isBehind(offset, coverage)
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
        case let violation as WebSocketFrameValidator.Violation:
            close(code: violation.closeCode, reason: violation.reason)
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments,
            NIOWebSocketError.invalidFrameLength:
            close(code: .messageTooBig, reason: "message too big")
        case is NIOWebSocketFrameAggregator.Error, is NIOWebSocketError:
            close(code: .protocolError, reason: "invalid framing")
        default:
            logger.debug("connection error", metadata: ["connection.id": "\(settings.connectionID)", "error": "\(error)"])
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
        case .subscribe(let channel, let since, let ref):
            shard.subscribe(self, to: channel)
            if !recoverChannel(channel, since: since, ref: ref, context: context), let ref {
                send(.ack(ref: ref), context: context)
            }
        case .unsubscribe(let channel):
            shard.unsubscribe(self, from: channel)
        case .resume(let since, _):
            resume(since: since, context: context)
        case .startTyping(let conversation):
            presence.startTyping(account: identity.account, conversation: conversation, user: identity.user)
        case .stopTyping(let conversation):
            presence.stopTyping(account: identity.account, conversation: conversation, user: identity.user)
        case .queryPresence(let ref):
            presence.users(account: identity.account)
                .hop(to: context.eventLoop)
                .assumeIsolated()
                .whenComplete { result in
                    guard self.state == .open else { return }
                    switch result {
                    case .success(let users):
                        self.send(.presenceState(users: users.map(PresenceTracker.entry), ref: ref), context: context)
                    case .failure:
                        self.send(.error(code: .unavailable, message: "presence is unavailable: retry shortly", ref: ref), context: context)
                    }
                }
        case .close(let code, let reason):
            close(code: code, reason: reason)
        }
    }

    private func send(_ message: ServerMessage, context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(bytes: message.encoded())
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }

    /// Queues a pre-framed event (or holds it while a replay runs); returns false when the
    /// connection did not take it. A connection still over its outbound limit when the next
    /// event arrives is closed with 4001.
    func write(_ event: OutboundEvent) -> Bool {
        guard state == .open, let rawContext else { return false }
        switch recovery.live(event) {
        case .write:
            break
        case .drop, .hold:
            return true
        case .overflow:
            closeSlowConsumer()
            return false
        }
        if !rawContext.channel.isWritable && awaitingFlush {
            // Our own unflushed burst, not the client, may be what crossed the limit.
            rawContext.flush()
        }
        guard rawContext.channel.isWritable else {
            closeSlowConsumer()
            return false
        }
        rawContext.write(NIOAny(event.frame), promise: nil)
        if !awaitingFlush {
            awaitingFlush = true
            shard.needsFlush(self)
        }
        return true
    }

    private func closeSlowConsumer() {
        metrics.slowConsumerCloses.increment()
        logger.info("closing slow consumer", metadata: ["connection.id": "\(settings.connectionID)"])
        close(code: .slowConsumer, reason: "outbound buffer full: reconnect")
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

    // MARK: History replay

    private func resume(since: String, context: ChannelHandlerContext) {
        guard let offset = StreamOffset(since) else {
            send(.recovery(recovered: false, count: 0, reason: "invalid_offset"), context: context)
            return
        }
        begin(.resume, after: offset, context: context)
    }

    /// A channel just joined: its events since the connection's base (or the client's own
    /// `since`) that the node delivered before the subscription are replayed for it. Returns
    /// whether a replay started (it sends the subscribe's ack when it ends).
    private func recoverChannel(_ channel: String, since: String?, ref: MessageReference?, context: ChannelHandlerContext) -> Bool {
        if let since {
            guard let offset = StreamOffset(since) else {
                send(.recovery(recovered: false, count: 0, reason: "invalid_offset", channel: channel), context: context)
                return false
            }
            begin(.channel(channel, reports: true, ref: ref), after: offset, context: context)
            return true
        } else if let base = recovery.channelReplayStart(nodeDelivered: shard.delivered(account: identity.account)) {
            begin(.channel(channel, reports: recovery.resumed, ref: ref), after: base, context: context)
            return true
        }
        return false
    }

    /// Starts a replay; subscription changes and resumes wait for its end.
    private func begin(_ purpose: ConnectionRecovery.Purpose, after: StreamOffset, context: ChannelHandlerContext) {
        session.defersSubscriptionChanges = true
        carry(recovery.begin(purpose, after: after), context: context)
    }

    private func carry(_ step: ConnectionRecovery.Step, context: ChannelHandlerContext) {
        switch step {
        case .read(let after, let limit):
            if context.channel.isWritable {
                requestPage(after: after, limit: limit, context: context)
            } else {
                pendingRead = (after, limit)
            }
        case .finish(let messages, let held):
            session.defersSubscriptionChanges = false
            for message in messages { send(message, context: context) }
            for event in held { _ = write(event) }
            performDeferred(context: context)
        }
    }

    private func requestPage(after: StreamOffset, limit: Int, context: ChannelHandlerContext) {
        broker.history(account: identity.account, after: after, limit: limit)
            .hop(to: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in
                guard self.state == .open, self.recovery.isReplaying else { return }
                switch result {
                case .failure:
                    self.carry(self.recovery.fail(reason: "unavailable"), context: context)
                case .success(let page):
                    let (writes, next) = self.recovery.receive(page) { routing in
                        routing.selects(user: self.identity.user, isSubscribed: self.isSubscribed(to:))
                    }
                    for payload in writes {
                        self.rawContext?.write(NIOAny(WebSocketTextFrame.encode(payload, allocator: context.channel.allocator)), promise: nil)
                    }
                    if !writes.isEmpty { self.rawContext?.flush() }
                    self.carry(next, context: context)
                }
            }
    }

    /// Handles the subscription changes and resumes that waited for a replay, in order, until
    /// one of them starts another replay.
    private func performDeferred(context: ChannelHandlerContext) {
        while state == .open, !recovery.isReplaying, let message = session.takeDeferred() {
            for action in session.handle(message, now: .now()) { perform(action, context: context) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let read = pendingRead {
            pendingRead = nil
            requestPage(after: read.after, limit: read.limit, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// The client closed: echo its status code (RFC 6455 §5.5.1; the frame validator checked
    /// it), or finish our own close.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        guard state == .open else {
            context.close(promise: nil)
            return
        }
        let code = frame.unmaskedData.getInteger(at: frame.unmaskedData.readerIndex, as: UInt16.self).map(CloseCode.init(rawValue:))
        close(code: code ?? .normal, reason: "")
    }
}
