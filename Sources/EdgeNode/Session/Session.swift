import Foundation
import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import Presence

/// One client's session, whatever the transport: its identity, the client protocol and flood
/// control (``ClientSession``), its place in history (``ConnectionRecovery``), and the one
/// outbound path every frame takes. The shard holds it as an ``EventRecipient``; its transport
/// hands it what the client sends and writes what it asks for.
///
/// Every frame — events, replies, pongs, errors, replays — goes out through ``admitOutbound()``:
/// a connection whose transport is still over its outbound limit is closed with 4001, so one
/// client can hold at most the limit plus one frame (or one replay page) of the node's memory.
/// Confined to its event loop.
final class Session: EventRecipient {
    /// What is particular to one connection (the node's limits are in ``SessionContext``).
    struct Settings: Sendable {
        var connectionID: String
        /// The account's history position at connect time, sent in the `connected` frame: the
        /// connection is owed every event after it.
        var startOffset: StreamOffset?
        /// Sub-channels named at connect (`?channels=`), joined before anything is sent.
        var channels: Set<String> = []
        /// `?since=` from the connect request: replay from there right after `connected`.
        var since: String?
        /// The token's `exp`: at it plus the leeway the session closes with 4003 unless a
        /// `refresh` extended it. nil: the session does not expire.
        var expiresAt: Date? = nil
    }

    private enum State { case open, closed }

    let identity: ClientIdentity
    private let settings: Settings
    /// Shared with every session of this event loop.
    private let context: SessionContext
    private var shard: ConnectionShard { context.shard }
    private var broker: any EventBroker { context.broker }
    private var upstream: (any UpstreamSink)? { context.upstream }
    private var encodings: FrameEncodings { context.encodings }
    private var presence: PresenceTracker { context.presence }
    private var metrics: NodeMetrics { context.metrics }
    private var logger: Logger { context.logger }
    private var eventLoop: EventLoop { context.eventLoop }
    private var tokens: TokenVerifier? { context.tokens }
    private var client: ClientSession
    private var recovery: ConnectionRecovery
    /// A replay page to request once the transport is writable again.
    private var pendingRead: (after: StreamOffset, limit: Int, total: Int?)?
    private var state = State.open
    private var awaitingFlush = false
    private var registered = false
    /// The transport encoding this session holds in use while it runs.
    private var heldEncoding: FrameEncodings.Index?
    /// Strong, and let go when the transport closes (``transportClosed()``): a weak reference
    /// here gave the transport a side table, which sent every retain and release of it down
    /// the slow path and cost about a tenth of the node's CPU per delivery.
    private var transport: (any SessionTransport)?
    private(set) var lastActivity: NIODeadline
    /// When the token runs out, leeway included: the shard's sweep closes the session with 4003
    /// then (a sweep rather than a timer per connection, which would cost ~200 bytes each).
    private(set) var expiresAt: NIODeadline?

    init(identity: ClientIdentity, settings: Settings, context: SessionContext) {
        let now = NIODeadline.now()
        let limits = context.limits
        self.identity = identity
        self.settings = settings
        self.context = context
        self.lastActivity = now
        self.client = ClientSession(
            identity: identity, maxSubscriptions: limits.maxSubscriptions,
            messagesPerSecond: limits.messagesPerSecond, burst: limits.messageBurst, now: now,
            typingTTL: .milliseconds(context.presence.timing.typingTTL), channels: settings.channels, resumeInterval: limits.resumeInterval,
            upstream: context.upstream == nil ? nil : limits.upstream)
        self.recovery = ConnectionRecovery(
            start: settings.startOffset, maxReplayEvents: limits.maxReplayEvents, maxHeldBytes: limits.maxHeldBytes)
    }

    var subscribedChannels: Set<String> { client.subscriptions }

    /// The id the `connected` frame names; transports whose clients send on another request
    /// (SSE's POST) find the session by it.
    var connectionID: String { settings.connectionID }

    var presenceMember: PresenceMember { PresenceMember(user: identity.user, connection: settings.connectionID) }

    func isSubscribed(to channel: String) -> Bool { client.subscriptions.contains(channel) }

    // MARK: Life cycle (called by the transport)

    /// The connection is open on `transport`: sends `connected`, joins the fan-out, and starts
    /// the replay the connection is owed (its `since`, or the gap between handshake and joining).
    func start(on transport: any SessionTransport) {
        self.transport = transport
        send(.connected(
            connectionID: settings.connectionID, node: context.limits.nodeID, account: identity.account,
            user: identity.user, heartbeat: context.limits.heartbeatSeconds, offset: settings.startOffset?.description))
        metrics.connections.increment()
        metrics.connectionsOpened.increment()
        registered = true
        if let expiresAt = settings.expiresAt { expire(at: expiresAt) }
        heldEncoding = transport.encoding
        encodings.retain(transport.encoding)
        let coverage = shard.add(self, start: settings.startOffset)
        if let since = settings.since {
            resume(since: since)
        } else if let start = settings.startOffset, ConnectionRecovery.isBehind(start, coverage) {
            // Events published between the handshake and joining the fan-out went to the
            // account's other connections already: replay them for this one.
            begin(.joinGap, after: start)
        }
    }

    /// The connection is gone: stop deliveries (safe to call more than once).
    func transportClosed() {
        state = .closed
        expiresAt = nil
        transport = nil
        guard registered else { return }
        registered = false
        if let heldEncoding { encodings.release(heldEncoding) }
        heldEncoding = nil
        shard.remove(self)
        metrics.connections.decrement()
    }

    /// One complete text message from the client.
    func receive(text: some Collection<UInt8>) {
        lastActivity = .now()
        guard state == .open else { return }
        for action in client.receive(text: text, now: lastActivity) { perform(action) }
    }

    /// A transport-level ping: answered through the outbound path, and counted in flood control
    /// like any message (a ping flood is dropped, then closed with 1008).
    func receivePing(_ payload: ByteBuffer) {
        lastActivity = .now()
        guard state == .open else { return }
        switch client.admitPing(now: lastActivity) {
        case .answer:
            guard admitOutbound() else { return }
            transport?.writePong(payload)
        case .drop:
            break
        case .close(let code, let reason):
            close(code: code, reason: reason)
        }
    }

    /// Anything else the client sent that shows it is alive (pongs, control frames).
    func receivedActivity() {
        lastActivity = .now()
    }

    /// The transport can take more: continue a replay that waited for it.
    func writabilityChanged(isWritable: Bool) {
        guard isWritable, let read = pendingRead else { return }
        pendingRead = nil
        requestPage(after: read.after, limit: read.limit, total: read.total)
    }

    // MARK: Outbound

    /// The single gate of every frame: false (and the connection closed with 4001) when the
    /// transport is over its outbound limit after flushing what this session queued itself.
    /// Transports call it too before a frame of their own (SSE heartbeats, Engine.IO pings).
    func admitOutbound() -> Bool {
        guard state == .open, let transport else { return false }
        if !transport.isWritable && awaitingFlush {
            // Our own unflushed burst, not the client, may be what crossed the limit.
            awaitingFlush = false
            transport.flush()
        }
        guard transport.isWritable else {
            closeSlowConsumer()
            return false
        }
        return true
    }

    private func send(_ message: ServerMessage) {
        if case .error = message { metrics.clientErrors.increment() }
        guard admitOutbound() else { return }
        transport?.writeMessage(message)
        transport?.flush()
    }

    /// Queues an event (or holds it while a replay runs); returns false when the connection did
    /// not take it. Flushes are coalesced per shard pass.
    func write(_ event: OutboundEvent) -> Bool {
        guard state == .open, let transport else { return false }
        switch recovery.live(event) {
        case .write:
            break
        case .drop, .hold:
            return true
        case .overflow:
            closeSlowConsumer()
            return false
        }
        guard admitOutbound() else { return false }
        if let frame = event.frame(for: transport.encoding) {
            transport.writeEncoded(frame)
        } else {
            transport.writeEvent(event.payload)  // encoded before this transport had a session here
        }
        if !awaitingFlush {
            awaitingFlush = true
            shard.needsFlush(self)
        }
        return true
    }

    func flush() {
        awaitingFlush = false
        transport?.flush()
    }

    private func closeSlowConsumer() {
        metrics.slowConsumerCloses.increment()
        logger.info("closing slow consumer", metadata: ["connection.id": "\(settings.connectionID)"])
        close(code: .slowConsumer, reason: "outbound buffer full: reconnect")
    }

    /// Stops deliveries and ends the connection with `code`.
    func close(code: CloseCode, reason: String) {
        guard state == .open else { return }
        let transport = self.transport
        transportClosed()
        transport?.close(code: code, reason: reason)
    }

    // MARK: Client protocol

    private func perform(_ action: ClientSession.Action) {
        switch action {
        case .send(let message):
            send(message)
        case .sendBareText(let text):
            guard admitOutbound() else { return }
            transport?.writeText(text)
            transport?.flush()
        case .subscribe(let channel, let since, let ref):
            shard.subscribe(self, to: channel)
            if !recoverChannel(channel, since: since, ref: ref), let ref { send(.ack(ref: ref)) }
        case .unsubscribe(let channel):
            shard.unsubscribe(self, from: channel)
        case .resume(let since, _):
            resume(since: since)
        case .startTyping(let conversation):
            presence.startTyping(account: identity.account, conversation: conversation, user: identity.user)
        case .stopTyping(let conversation):
            presence.stopTyping(account: identity.account, conversation: conversation, user: identity.user)
        case .queryPresence(let ref):
            presence.users(account: identity.account).hop(to: eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let users): self.send(.presenceState(users: users.map(PresenceTracker.entry), ref: ref))
                case .failure: self.send(.error(code: .unavailable, message: "presence is unavailable: retry shortly", ref: ref))
                }
            }
        case .refresh(let token, let ref):
            refresh(token: token, ref: ref)
        case .upstream(let type, let id, let data):
            forward(type: type, id: id, data: data)
        case .close(let code, let reason):
            close(code: code, reason: reason)
        }
    }

    // MARK: Token expiry

    /// (Re)sets the expiry: the session closes with 4003 at `date` plus the leeway.
    private func expire(at date: Date) {
        let remaining = date.timeIntervalSinceNow * 1e9 + Double(context.limits.tokenLeeway.nanoseconds)
        expiresAt = .now() + .nanoseconds(Int64(Swift.max(0, Swift.min(remaining, 1e17))))
    }

    func closeExpired() {
        guard state == .open else { return }
        metrics.tokenExpiryCloses.increment()
        close(code: .tokenExpired, reason: "token_expired: refresh the token before it expires, or reconnect with a new one")
    }

    /// Verifies a `refresh` token off the event loop; one for this account and user moves the
    /// expiry to its own, anything else is refused and the connection keeps its expiry.
    private func refresh(token: String, ref: MessageReference?) {
        guard let tokens else {
            send(.error(code: .unauthorized, message: "this node does not accept refresh", ref: ref))
            return
        }
        let promise = eventLoop.makePromise(of: VerifiedToken.self)
        promise.completeWithTask { try await tokens.verify(token) }
        promise.futureResult.assumeIsolated().whenComplete { result in
            guard self.state == .open else { return }
            switch result {
            case .success(let verified) where verified.identity.account == self.identity.account && verified.identity.user == self.identity.user:
                self.metrics.tokenRefreshes.increment()
                self.expire(at: verified.expiresAt)
                self.send(.refreshed(exp: Int64(verified.expiresAt.timeIntervalSince1970.rounded(.down)), ref: ref))
            case .success:
                self.send(.error(
                    code: .tokenMismatch, message: "the token names another account or user than this connection, which keeps its own expiry",
                    ref: ref))
            case .failure(let error):
                let refusal = error as? AuthenticationError
                self.send(.error(code: refusal?.errorCode ?? .unauthorized, message: refusal?.description ?? "the token could not be verified", ref: ref))
            }
        }
    }

    // MARK: Upstream

    /// Hands a client message to the backend without waiting for it: event delivery never waits
    /// on the upstream. The answer comes back through the outbound path like any frame: `ack`
    /// once the backend accepted it (when the client gave an `id`), `reply` when it answered, or
    /// an error with `ref`.
    private func forward(type: String, id: MessageReference?, data: [UInt8]) {
        guard let upstream else { return }
        metrics.upstreamMessages.increment()
        let message = UpstreamMessage(
            account: identity.account, user: identity.user, connection: settings.connectionID, node: context.limits.nodeID, id: id, type: type,
            data: data, receivedAt: UInt64(max(0, Date().timeIntervalSince1970 * 1000)))
        upstream.send(message).hop(to: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(.accepted):
                if let id { self.send(.ack(ref: id)) }
            case .success(.reply(let body)):
                self.send(.reply(ref: id, data: body))
            case .failure(let error):
                self.metrics.upstreamFailures.increment()
                self.logger.debug("upstream refused a client message", metadata: [
                    "connection.id": "\(self.settings.connectionID)", "upstream.type": "\(type)", "error": "\(error)",
                ])
                if let error = error as? UpstreamError, error.isUnavailable {
                    self.send(.error(code: .unavailable, message: "the upstream is unavailable: nothing was stored; retry shortly", ref: id))
                } else {
                    self.send(.error(code: .upstreamFailed, message: "the backend did not accept the message: \(error)", ref: id))
                }
            }
        }
    }

    // MARK: History replay

    private func resume(since: String) {
        guard let offset = StreamOffset(since) else {
            send(.recovery(recovered: false, count: 0, reason: "invalid_offset"))
            return
        }
        begin(.resume, after: offset)
    }

    /// A channel just joined: its events since the connection's base (or the client's own
    /// `since`) that went out before the subscription are replayed for it. Returns whether a
    /// replay started (it sends the subscribe's ack when it ends).
    private func recoverChannel(_ channel: String, since: String?, ref: MessageReference?) -> Bool {
        if let since {
            guard let offset = StreamOffset(since) else {
                send(.recovery(recovered: false, count: 0, reason: "invalid_offset", channel: channel))
                return false
            }
            begin(.channel(channel, reports: true, ref: ref), after: offset)
            return true
        } else if let base = recovery.channelReplayStart(nodeDelivered: shard.delivered(account: identity.account)) {
            begin(.channel(channel, reports: recovery.resumed, ref: ref), after: base)
            return true
        }
        return false
    }

    /// Starts a replay; subscription changes and resumes wait for its end.
    private func begin(_ purpose: ConnectionRecovery.Purpose, after: StreamOffset) {
        client.defersSubscriptionChanges = true
        carry(recovery.begin(purpose, after: after))
    }

    private func carry(_ step: ConnectionRecovery.Step) {
        switch step {
        case .read(let after, let limit, let total):
            if transport?.isWritable == true {
                requestPage(after: after, limit: limit, total: total)
            } else {
                pendingRead = (after, limit, total)
            }
        case .finish(let messages, let held):
            client.defersSubscriptionChanges = false
            for message in messages { send(message) }
            for event in held { _ = write(event) }
            performDeferred()
        }
    }

    /// Reads one page; its events go out through the outbound path. A page is only read while
    /// the transport is writable, so a replay streams at the speed the client reads.
    private func requestPage(after: StreamOffset, limit: Int, total: Int?) {
        broker.history(account: identity.account, after: after, limit: limit, total: total)
            .hop(to: eventLoop)
            .assumeIsolated()
            .whenComplete { result in
                guard self.state == .open, self.recovery.isReplaying else { return }
                switch result {
                case .failure:
                    self.carry(self.recovery.fail(reason: "unavailable"))
                case .success(let page):
                    let (writes, next) = self.recovery.receive(page) { routing in
                        routing.selects(user: self.identity.user, connection: self.settings.connectionID, isSubscribed: self.isSubscribed(to:))
                    }
                    if !writes.isEmpty {
                        guard self.admitOutbound(), let transport = self.transport else { return }
                        for payload in writes { transport.writeEvent(payload) }
                        transport.flush()
                    }
                    self.carry(next)
                }
            }
    }

    /// Handles the subscription changes and resumes that waited for a replay, in order, until
    /// one of them starts another replay.
    private func performDeferred() {
        while state == .open, !recovery.isReplaying, let message = client.takeDeferred() {
            for action in client.handle(message, now: .now()) { perform(action) }
        }
    }
}
