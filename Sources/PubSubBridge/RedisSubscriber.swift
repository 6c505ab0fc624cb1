import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The node's one pub/sub connection, with reference-counted interest per channel.
///
/// `retain` of an unused channel sends SUBSCRIBE; `release` of its last reference sends UNSUBSCRIBE
/// after `linger`, unless the channel is retained again meanwhile. When the connection drops, the
/// subscriber keeps its interest, reconnects with backoff and subscribes again to every channel it
/// still needs, in batches.
///
/// `onMessage` and `onConnectionStateChange` run on `eventLoop`, messages in the order Redis sent them.
/// Every `message` Redis pushes is delivered, including ones for a channel whose UNSUBSCRIBE is in flight.
///
/// A SUBSCRIBE that Redis refuses (e.g. an ACL user without the channel: `NOPERM`) is logged, listed in
/// ``refusedSubscriptions``, reported as not connected, and retried every ``refusalRetryInterval``.
///
/// The same machinery serves one Redis Cluster primary's sharded channels (`SSUBSCRIBE`) for
/// ``RedisShardedSubscriber``, which also hears when the primary drops a channel on its own.
public final class RedisSubscriber: RedisChannelSubscriber {
    /// Classic (`SUBSCRIBE`) or sharded (`SSUBSCRIBE`, Redis Cluster) pub/sub.
    struct Kind: Sendable, Equatable {
        let subscribe: String
        let unsubscribe: String
        let sharded: Bool

        static let classic = Kind(subscribe: "SUBSCRIBE", unsubscribe: "UNSUBSCRIBE", sharded: false)
        /// One SSUBSCRIBE may only name channels of one hash slot.
        static let sharded = Kind(subscribe: "SSUBSCRIBE", unsubscribe: "SUNSUBSCRIBE", sharded: true)

        /// `batches` regrouped so that no command mixes hash slots (sharded only).
        func commands(for batches: [[String]]) -> [[String]] {
            guard sharded else { return batches }
            var bySlot: [Int: [String]] = [:]
            for channel in batches.joined() { bySlot[RedisHashSlot.of(channel), default: []].append(channel) }
            return bySlot.keys.sorted().map { bySlot[$0]! }
        }
    }

    /// What a sharded subscriber's owner hears beyond messages.
    struct ShardEvents: Sendable {
        /// Redis dropped a channel on its own (a `sunsubscribe` nobody asked for: its slot moved away).
        var dropped: @Sendable (_ channel: String) -> Void
        /// Redis refused to subscribe `channels`; returns true when that was handled elsewhere (a
        /// `MOVED`), and the channels are then forgotten here rather than retried.
        var refused: @Sendable (_ channels: [String], _ error: RedisError) -> Bool
    }

    /// The event loop that owns the connection and runs the callbacks.
    public let eventLoop: EventLoop
    private let supervisor: RedisConnectionSupervisor
    private let stateMachine: NIOLoopBoundBox<SubscriptionStateMachine>
    private let linger: TimeAmount
    private let logger: Logger
    private let onMessage: @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void
    private let onConnectionStateChange: @Sendable (_ connected: Bool) -> Void
    private let onSubscribed: @Sendable (_ channel: String) -> Void
    private let connectedBox = NIOLockedValueBox(false)
    private let subscribedBox = NIOLockedValueBox(Set<String>())
    private let refusedBox = NIOLockedValueBox([String: String]())
    private let retryScheduled: NIOLoopBoundBox<Bool>
    private let kind: Kind
    private let shardEvents: ShardEvents?

    /// How long a refused subscription waits before it is asked for again.
    public static let refusalRetryInterval: TimeAmount = .seconds(2)

    /// - Parameters:
    ///   - linger: How long a channel stays subscribed after its last `release`, so churn costs no commands.
    ///   - onMessage: Called for every published message, on `eventLoop`, in Redis's order.
    ///   - onConnectionStateChange: Called on `eventLoop` with `true` once connected and resubscribed,
    ///     and with `false` when that connection is lost, Redis refuses a needed channel, or the subscriber shuts down.
    ///   - onSubscribed: Called on `eventLoop` whenever a channel becomes live: Redis confirmed its
    ///     SUBSCRIBE (also after a reconnect), or it was retained while already confirmed. Every
    ///     message published after this call reaches `onMessage`; earlier ones may not have.
    public convenience init(
        configuration: RedisConfiguration,
        eventLoop: EventLoop,
        logger: Logger,
        linger: TimeAmount = .seconds(2),
        onMessage: @escaping @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void,
        onConnectionStateChange: @escaping @Sendable (_ connected: Bool) -> Void = { _ in },
        onSubscribed: @escaping @Sendable (_ channel: String) -> Void = { _ in }
    ) {
        self.init(
            configuration: configuration, eventLoop: eventLoop, logger: logger, linger: linger, kind: .classic, shardEvents: nil,
            onMessage: onMessage, onConnectionStateChange: onConnectionStateChange, onSubscribed: onSubscribed)
    }

    init(
        configuration: RedisConfiguration,
        eventLoop: EventLoop,
        logger: Logger,
        linger: TimeAmount,
        kind: Kind,
        shardEvents: ShardEvents?,
        onMessage: @escaping @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void,
        onConnectionStateChange: @escaping @Sendable (_ connected: Bool) -> Void,
        onSubscribed: @escaping @Sendable (_ channel: String) -> Void
    ) {
        self.kind = kind
        self.shardEvents = shardEvents
        self.eventLoop = eventLoop
        self.supervisor = RedisConnectionSupervisor(
            configuration: configuration,
            eventLoop: eventLoop,
            logger: logger,
            role: kind.sharded ? "sharded-subscriber" : "subscriber"
        )
        self.stateMachine = .makeBoxSendingValue(SubscriptionStateMachine(), eventLoop: eventLoop)
        self.retryScheduled = .makeBoxSendingValue(false, eventLoop: eventLoop)
        self.linger = linger
        var logger = logger
        logger[metadataKey: "redis.host"] = "\(configuration.host)"
        logger[metadataKey: "redis.port"] = "\(configuration.port)"
        self.logger = logger
        self.onMessage = onMessage
        self.onConnectionStateChange = onConnectionStateChange
        self.onSubscribed = onSubscribed
    }

    /// Starts connecting in the background; returns immediately.
    public func start() {
        self.supervisor.start(
            onConnected: { connection in self.connected(connection) },
            onDisconnected: { self.disconnected() }
        )
    }

    /// Adds a reference to `channel`, subscribing if it is the first. Callable from any thread.
    public func retain(channel: String) {
        self.onLoop {
            self.perform(self.stateMachine.value.retain(channel: channel))
        }
    }

    /// Drops a reference to `channel`; the last one unsubscribes after the linger time. Callable from any thread.
    public func release(channel: String) {
        self.onLoop {
            self.perform(self.stateMachine.value.release(channel: channel))
        }
    }

    /// Drops `channel` at once with no UNSUBSCRIBE: it is served by another node now. Must be called on ``eventLoop``.
    func forget(channel: String) {
        self.eventLoop.preconditionInEventLoop()
        self.subscribedBox.withLockedValue { _ = $0.remove(channel) }
        let action = self.stateMachine.value.forget(channel: channel)
        self.syncRefused()
        self.perform(action)
    }

    /// Whether the connection is up, every retained channel has been subscribed since it came up, and Redis
    /// refuses none of them.
    public var isConnected: Bool {
        self.connectedBox.withLockedValue { $0 }
    }

    /// The channels Redis has confirmed for this connection right now.
    public var subscribedChannels: Set<String> {
        self.subscribedBox.withLockedValue { $0 }
    }

    /// Needed channels whose SUBSCRIBE Redis refused, with Redis's error message (e.g. `NOPERM ...`).
    public var refusedSubscriptions: [String: String] {
        self.refusedBox.withLockedValue { $0 }
    }

    /// Why the subscriber is not connected, or `nil` when it is: the connection problem, or the refused channels.
    public var problem: String? {
        if let connectionProblem = self.supervisor.problem {
            return connectionProblem
        }
        let refused = self.refusedSubscriptions
        if let first = refused.min(by: { $0.key < $1.key }) {
            let others = refused.count > 1 ? " and \(refused.count - 1) more" : ""
            return "Redis refused SUBSCRIBE \(first.key)\(others): \(first.value)"
        }
        return self.isConnected ? nil : "subscribing to the channels it needs"
    }

    /// Stops reconnecting and closes the connection; no callbacks run after the returned future completes.
    public func shutdown() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit {
            let wasConnected = self.stateMachine.value.shutdown()
            self.resetSnapshot()
            if wasConnected {
                self.onConnectionStateChange(false)
            }
            return self.supervisor.shutdown()
        }
    }

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if self.eventLoop.inEventLoop {
            body()
        } else {
            self.eventLoop.execute(body)
        }
    }

    private func connected(_ connection: RedisConnection) {
        connection.setPushHandler(
            { [weak self] push in self?.received(push) },
            onRefusal: { [weak self] channels, error in self?.refused(channels, error) }
        )
        self.perform(self.stateMachine.value.connected())
    }

    private func disconnected() {
        let wasConnected = self.stateMachine.value.disconnected()
        self.resetSnapshot()
        if wasConnected {
            self.onConnectionStateChange(false)
        }
    }

    private func received(_ value: RESPValue) {
        guard let push = RedisPubSubPush(value) else {
            self.logger.warning("Unexpected reply on the Redis subscriber connection", metadata: ["redis.reply": "\(value)"])
            return
        }
        switch push {
        case .message(let channel, let payload):
            self.onMessage(channel, payload)
        case .subscribed(let channel, _):
            self.subscribedBox.withLockedValue { _ = $0.insert(channel) }
            self.onSubscribed(channel)
            let action = self.stateMachine.value.subscribeConfirmed(channel: channel)
            self.syncRefused()
            self.perform(action)
        case .unsubscribed(let channel, _):
            if let channel {
                self.subscribedBox.withLockedValue { _ = $0.remove(channel) }
                let droppedByRedis = self.stateMachine.value.unsubscribeConfirmed(channel: channel)
                if droppedByRedis, let shardEvents = self.shardEvents {
                    self.forget(channel: channel)
                    shardEvents.dropped(channel)
                }
            }
        case .pong:
            break
        }
    }

    private func refused(_ channels: [String], _ error: RedisError) {
        if let shardEvents = self.shardEvents, shardEvents.refused(channels, error) {
            for channel in channels { self.forget(channel: channel) }
            return
        }
        let message = error.serverMessage ?? "\(error)"
        let known = self.stateMachine.value.refused
        let new = channels.filter { known[$0] == nil }
        if !new.isEmpty {
            self.logger.error(
                "Redis refused to subscribe; these channels get no events until it allows them",
                metadata: ["redis.channels": "\(new.prefix(10).joined(separator: ","))", "redis.channel_count": "\(new.count)", "error": "\(message)"]
            )
        }
        let action = self.stateMachine.value.subscribeRefused(channels: channels, message: message)
        self.syncRefused()
        self.perform(action)
        guard !self.retryScheduled.value, !self.stateMachine.value.refused.isEmpty else { return }
        self.retryScheduled.value = true
        self.eventLoop.scheduleTask(in: Self.refusalRetryInterval) {
            self.retryScheduled.value = false
            // One SUBSCRIBE per channel, so one forbidden channel cannot hold up the others; logged only on refusal.
            if case .resubscribe(let batches) = self.stateMachine.value.retryRefused() {
                for batch in batches { self.send(self.kind.subscribe, batch) }
            }
        }
    }

    private func perform(_ action: SubscriptionStateMachine.Action) {
        self.eventLoop.preconditionInEventLoop()
        switch action {
        case .none:
            break
        case .subscribe(let channels):
            for batch in self.kind.commands(for: [channels]) { self.send(self.kind.subscribe, batch) }
        case .unsubscribe(let channels):
            for batch in self.kind.commands(for: [channels]) { self.send(self.kind.unsubscribe, batch) }
        case .resubscribe(let batches):
            let batches = self.kind.commands(for: batches)
            self.logger.info(
                "Subscribing to Redis channels",
                metadata: ["redis.channels": "\(batches.reduce(0) { $0 + $1.count })", "redis.commands": "\(batches.count)"]
            )
            for batch in batches {
                self.send(self.kind.subscribe, batch)
            }
        case .scheduleUnsubscribe(let channel, let token):
            self.eventLoop.scheduleTask(in: self.linger) {
                let action = self.stateMachine.value.lingerExpired(channel: channel, token: token)
                self.syncRefused()
                self.perform(action)
            }
        case .reportSubscribed(let channel):
            self.onSubscribed(channel)
        case .reportConnected:
            self.connectedBox.withLockedValue { $0 = true }
            self.logger.info("Redis subscriber ready", metadata: ["redis.channels": "\(self.stateMachine.value.confirmed.count)"])
            self.onConnectionStateChange(true)
        case .reportUnavailable:
            self.connectedBox.withLockedValue { $0 = false }
            self.onConnectionStateChange(false)
        }
    }

    private func send(_ command: String, _ channels: [String]) {
        guard let connection = self.supervisor.connection else { return }
        var arguments = [ByteBuffer(string: command)]
        arguments.reserveCapacity(channels.count + 1)
        arguments.append(contentsOf: channels.lazy.map { ByteBuffer(string: $0) })
        connection.sendSubscriptionCommand(arguments)
    }

    private func resetSnapshot() {
        self.connectedBox.withLockedValue { $0 = false }
        self.subscribedBox.withLockedValue { $0.removeAll() }
        self.refusedBox.withLockedValue { $0.removeAll() }
    }

    /// Copies the refused channels out for other threads, when there are or were any.
    private func syncRefused() {
        let refused = self.stateMachine.value.refused
        if !refused.isEmpty || !self.refusedBox.withLockedValue({ $0.isEmpty }) {
            self.refusedBox.withLockedValue { $0 = refused }
        }
    }
}
