import HeraldProtocol
import Logging
import NIOCore
import NIOWebSocket
import Presence
import PubSubBridge

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
        /// The account's history position at connect time, sent in the `connected` frame.
        var startOffset: String?
        /// `?since=` from the upgrade request: replay from there right after `connected`.
        var since: String?
        var maxReplayEvents: Int
        /// Bytes of live events held during a replay before the client counts as too slow.
        var maxHeldBytes: Int
        /// How long a closing connection may take to flush its close frame before it is cut.
        var closeGrace: TimeAmount = .seconds(2)
    }

    private enum State { case open, closing }

    /// A history replay in progress: where it stands, and the live events held until it ends.
    private struct Replay {
        var after: StreamOffset
        var scanned = 0
        var delivered = 0
        var held: [OutboundEvent] = []
        var heldBytes = 0
        var waitingForWritability = false
    }

    /// History events requested per page of a replay.
    static let replayPageSize = 100

    let identity: ClientIdentity
    private let settings: Settings
    private let shard: ConnectionShard
    private let broker: any EventBroker
    private let presence: PresenceTracker
    private var replay: Replay?
    /// The last offset a finished replay delivered: live copies of replayed events can still
    /// arrive after it (the history read may overtake the pub/sub message), and are dropped.
    private var replayedThrough: StreamOffset?
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
            typingTTL: .milliseconds(presence.timing.typingTTL))
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
            user: identity.user, heartbeat: settings.heartbeatSeconds, offset: settings.startOffset), context: context)
        metrics.connections.increment()
        metrics.connectionsOpened.increment()
        registered = true
        shard.add(self)
        if let since = settings.since { startReplay(since: since, ref: nil, context: context) }
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
        case .subscribe(let channel):
            shard.subscribe(self, to: channel)
        case .unsubscribe(let channel):
            shard.unsubscribe(self, from: channel)
        case .resume(let since, let ref):
            startReplay(since: since, ref: ref, context: context)
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
        if let through = replayedThrough, let offset = event.offset, offset.epoch == through.epoch {
            if offset <= through { return true }
            replayedThrough = nil
        }
        if replay != nil {
            replay!.held.append(event)
            replay!.heldBytes += event.frame.readableBytes
            if replay!.heldBytes > settings.maxHeldBytes { closeSlowConsumer() }
            return true
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

    /// Replays history after `since`, holding live events until it ends; answers `recovery`.
    private func startReplay(since: String, ref: MessageReference?, context: ChannelHandlerContext) {
        guard replay == nil else {
            send(.error(code: .recoveryInProgress, message: "a recovery is already running on this connection", ref: ref), context: context)
            return
        }
        guard let offset = StreamOffset(since) else {
            send(.recovery(recovered: false, count: 0, reason: "invalid_offset"), context: context)
            return
        }
        replay = Replay(after: offset)
        requestReplayPage(context: context)
    }

    private func requestReplayPage(context: ChannelHandlerContext) {
        guard let replay else { return }
        let limit = min(Self.replayPageSize, settings.maxReplayEvents - replay.scanned + 1)
        broker.history(account: identity.account, after: replay.after, limit: limit)
            .hop(to: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in
                guard self.state == .open, self.replay != nil else { return }
                switch result {
                case .failure:
                    self.finishReplay(recovered: false, reason: "unavailable", context: context)
                case .success(let page) where page.truncated:
                    self.finishReplay(recovered: false, reason: "out_of_window", context: context)
                case .success(let page):
                    self.replayPage(page, context: context)
                }
            }
    }

    private func replayPage(_ page: HistoryPage, context: ChannelHandlerContext) {
        for event in page.events {
            replay!.scanned += 1
            if replay!.scanned > settings.maxReplayEvents {
                finishReplay(recovered: false, reason: "too_many", context: context)
                return
            }
            replay!.after = event.offset
            guard let routing = EventRouting.decode(event.payload.readableBytesView),
                routing.selects(user: identity.user, isSubscribed: isSubscribed(to:))
            else { continue }
            replay!.delivered += 1
            rawContext?.write(NIOAny(WebSocketTextFrame.encode(event.payload, allocator: context.channel.allocator)), promise: nil)
        }
        rawContext?.flush()
        guard page.hasMore else {
            finishReplay(recovered: true, reason: nil, context: context)
            return
        }
        if context.channel.isWritable {
            requestReplayPage(context: context)
        } else {
            replay!.waitingForWritability = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, replay?.waitingForWritability == true {
            replay!.waitingForWritability = false
            requestReplayPage(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Sends `recovery`, then the live events held meanwhile; `write` drops those the replay
    /// already carried, and any later live copy of them.
    private func finishReplay(recovered: Bool, reason: String?, context: ChannelHandlerContext) {
        guard let finished = replay else { return }
        replay = nil
        replayedThrough = finished.after
        send(.recovery(recovered: recovered, count: finished.delivered, reason: reason), context: context)
        for event in finished.held { _ = write(event) }
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
