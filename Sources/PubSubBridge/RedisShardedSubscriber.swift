import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Sharded pub/sub on a Redis Cluster (`SSUBSCRIBE`, Redis 7): reference-counted interest per
/// channel, each channel subscribed on the primary of its hash slot, over one connection per
/// primary (a ``RedisSubscriber`` of the sharded kind), not one per channel. Every primary that
/// serves slots gets its connection as soon as the topology names it, so a channel needed later
/// is one `SSUBSCRIBE` away and readiness does not flicker while connections open.
///
/// Channels follow their slot. When the topology changes (a failover promoted a replica, a reshard
/// moved a slot), each channel whose slot has a new primary is subscribed there; when a primary
/// drops a channel on its own (a `sunsubscribe` push: its slot moved away) or refuses one with
/// `MOVED`, the channel moves to the new owner at once. Every time a channel goes live on a
/// connection, `onSubscribed` reports it, so the owner can fill what it may have missed meanwhile.
///
/// The topology comes from a ``RedisClusterCommandClient``, which must be started by its owner.
/// Callbacks run on ``eventLoop``.
public final class RedisShardedSubscriber: RedisChannelSubscriber {
    public let eventLoop: EventLoop
    private let cluster: RedisClusterCommandClient
    private let linger: TimeAmount
    private let logger: Logger
    private let onMessage: @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void
    private let onConnectionStateChange: @Sendable (_ connected: Bool) -> Void
    private let onSubscribed: @Sendable (_ channel: String) -> Void
    private let loopState: NIOLoopBoundBox<LoopState>
    private let snapshot = NIOLockedValueBox(Snapshot())

    private struct LoopState {
        var started = false
        var isShutDown = false
        var topology: RedisClusterTopology?
        /// Local references per channel.
        var references: [String: Int] = [:]
        /// The primary each referenced channel is subscribed on; absent while it waits for one.
        var assigned: [String: RedisClusterEndpoint] = [:]
        var subscribers: [RedisClusterEndpoint: RedisSubscriber] = [:]
        var retryScheduled = false
    }

    /// What other threads may read.
    private struct Snapshot {
        var connected = false
        var problem: String? = "not started"
    }

    /// How soon channels waiting for a primary are placed again (while any wait).
    static let placementRetryInterval: TimeAmount = .milliseconds(250)

    /// - Parameters:
    ///   - cluster: the source of the topology (and where refreshes are asked for).
    ///   - linger: How long a channel stays subscribed after its last `release`.
    ///   - onMessage: Every `smessage`, on `eventLoop`, in each primary's order.
    ///   - onConnectionStateChange: `true` once every referenced channel is subscribed on a live
    ///     connection, `false` when one is not (a primary lost, a slot without primary, a refusal).
    ///   - onSubscribed: A channel went live on a connection (first subscribe, reconnect, failover,
    ///     slot migration); messages published before may have been missed.
    public init(
        cluster: RedisClusterCommandClient,
        eventLoop: EventLoop,
        logger: Logger,
        linger: TimeAmount = .seconds(2),
        onMessage: @escaping @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void,
        onConnectionStateChange: @escaping @Sendable (_ connected: Bool) -> Void = { _ in },
        onSubscribed: @escaping @Sendable (_ channel: String) -> Void = { _ in }
    ) {
        self.cluster = cluster
        self.eventLoop = eventLoop
        self.linger = linger
        var logger = logger
        logger[metadataKey: "redis.role"] = "sharded-subscriber"
        self.logger = logger
        self.onMessage = onMessage
        self.onConnectionStateChange = onConnectionStateChange
        self.onSubscribed = onSubscribed
        self.loopState = .makeBoxSendingValue(LoopState(), eventLoop: eventLoop)
    }

    public func start() {
        eventLoop.execute {
            guard !self.loopState.value.started else { return }
            self.loopState.value.started = true
            self.updateReadiness()
            self.cluster.onTopologyChange { [weak self] topology in
                guard let self else { return }
                self.eventLoop.execute { self.topologyChanged(topology) }
            }
        }
    }

    public func retain(channel: String) {
        onLoop {
            guard !self.loopState.value.isShutDown else { return }
            let count = self.loopState.value.references[channel, default: 0] + 1
            self.loopState.value.references[channel] = count
            if count == 1 { self.place(channel) }
        }
    }

    public func release(channel: String) {
        onLoop {
            guard let count = self.loopState.value.references[channel] else { return }
            guard count <= 1 else {
                self.loopState.value.references[channel] = count - 1
                return
            }
            self.loopState.value.references[channel] = nil
            if let endpoint = self.loopState.value.assigned.removeValue(forKey: channel) {
                self.loopState.value.subscribers[endpoint]?.release(channel: channel)
            }
            self.updateReadiness()
        }
    }

    public var isConnected: Bool {
        snapshot.withLockedValue { $0.connected }
    }

    public var problem: String? {
        snapshot.withLockedValue { $0.problem }
    }

    /// The primary each channel with references is subscribed on right now. Callable on ``eventLoop`` only.
    var placements: [String: RedisClusterEndpoint] {
        loopState.value.assigned
    }

    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let wasConnected = self.snapshot.withLockedValue { $0.connected }
            self.loopState.value.isShutDown = true
            let subscribers = Array(self.loopState.value.subscribers.values)
            self.loopState.value.subscribers = [:]
            self.loopState.value.assigned = [:]
            self.loopState.value.references = [:]
            self.snapshot.withLockedValue { $0 = Snapshot(connected: false, problem: "shut down") }
            if wasConnected { self.onConnectionStateChange(false) }
            return EventLoopFuture.andAllComplete(subscribers.map { $0.shutdown() }, on: self.eventLoop)
        }
    }

    // MARK: Placement

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop { body() } else { eventLoop.execute(body) }
    }

    /// Subscribes `channel` on its slot's primary, when the topology names one.
    private func place(_ channel: String) {
        eventLoop.preconditionInEventLoop()
        guard let endpoint = loopState.value.topology?.primary(forSlot: RedisHashSlot.of(channel)) else {
            scheduleRetry()
            updateReadiness()
            return
        }
        loopState.value.assigned[channel] = endpoint
        subscriber(for: endpoint).retain(channel: channel)
        updateReadiness()
    }

    private func topologyChanged(_ topology: RedisClusterTopology) {
        guard !loopState.value.isShutDown else { return }
        loopState.value.topology = topology
        var moved = 0
        for (channel, endpoint) in loopState.value.assigned where topology.primary(forSlot: RedisHashSlot.of(channel)) != endpoint {
            loopState.value.subscribers[endpoint]?.forget(channel: channel)
            loopState.value.assigned[channel] = nil
            moved += 1
        }
        let primaries = Set(topology.primaries)
        for (endpoint, subscriber) in loopState.value.subscribers where !primaries.contains(endpoint) {
            loopState.value.subscribers[endpoint] = nil
            _ = subscriber.shutdown()
        }
        for shard in topology.shards where !shard.slots.isEmpty {
            _ = subscriber(for: shard.primary)
        }
        for channel in loopState.value.references.keys where loopState.value.assigned[channel] == nil {
            place(channel)
        }
        if moved > 0 {
            logger.notice("Sharded channels moved to their slots' new primaries", metadata: ["redis.channels": "\(moved)"])
        }
        updateReadiness()
    }

    /// Places waiting channels again shortly, and asks for a fresh topology meanwhile.
    private func scheduleRetry() {
        cluster.requestRefresh()
        guard !loopState.value.retryScheduled, !loopState.value.isShutDown else { return }
        loopState.value.retryScheduled = true
        eventLoop.scheduleTask(in: Self.placementRetryInterval) {
            self.loopState.value.retryScheduled = false
            guard !self.loopState.value.isShutDown else { return }
            for channel in self.loopState.value.references.keys where self.loopState.value.assigned[channel] == nil {
                self.place(channel)
            }
        }
    }

    private func subscriber(for endpoint: RedisClusterEndpoint) -> RedisSubscriber {
        if let existing = loopState.value.subscribers[endpoint] { return existing }
        let events = RedisSubscriber.ShardEvents(
            dropped: { [weak self] channel in self?.dropped(channel, by: endpoint) },
            refused: { [weak self] channels, error in self?.refused(channels, by: endpoint, error) ?? false })
        let subscriber = RedisSubscriber(
            configuration: cluster.nodeConfiguration(for: endpoint), eventLoop: eventLoop, logger: logger, linger: linger,
            kind: .sharded, shardEvents: events,
            onMessage: onMessage,
            onConnectionStateChange: { [weak self] connected in
                guard let self else { return }
                if !connected { self.cluster.requestRefresh() }
                self.updateReadiness()
            },
            onSubscribed: { [weak self] channel in
                guard let self, self.loopState.value.assigned[channel] == endpoint else { return }
                self.onSubscribed(channel)
            })
        loopState.value.subscribers[endpoint] = subscriber
        subscriber.start()
        return subscriber
    }

    /// `endpoint` dropped `channel` on its own: its slot moved. Place it again; a primary that no
    /// longer serves the slot answers `MOVED`, which says where it went.
    private func dropped(_ channel: String, by endpoint: RedisClusterEndpoint) {
        guard loopState.value.assigned[channel] == endpoint else { return }
        logger.info("A Redis Cluster primary dropped a sharded channel (its slot moved)", metadata: [
            "redis.channel": "\(channel)", "redis.node": "\(endpoint)",
        ])
        loopState.value.assigned[channel] = nil
        cluster.requestRefresh()
        if loopState.value.references[channel] != nil { place(channel) }
    }

    /// A refused SSUBSCRIBE: `MOVED` moves the channels where the primary says, `TRYAGAIN`/`CLUSTERDOWN`
    /// waits for the topology; other refusals (ACL) stay with the connection, which retries them.
    private func refused(_ channels: [String], by endpoint: RedisClusterEndpoint, _ error: RedisError) -> Bool {
        guard let redirect = RedisClusterRedirect(error) else { return false }
        for channel in channels where loopState.value.assigned[channel] == endpoint {
            loopState.value.assigned[channel] = nil
        }
        switch redirect {
        case .moved(let slot, let target), .ask(let slot, let target):
            cluster.noteMoved(slot: slot, to: target)
        case .tryAgain, .clusterDown:
            break
        }
        scheduleRetry()
        updateReadiness()
        return true
    }

    // MARK: Readiness

    private func updateReadiness() {
        eventLoop.preconditionInEventLoop()
        let state = loopState.value
        let problem: String?
        if !state.started {
            problem = "not started"
        } else if state.isShutDown {
            problem = "shut down"
        } else if state.topology == nil {
            problem = cluster.problem ?? "waiting for the cluster topology"
        } else if let waiting = state.references.keys.first(where: { state.assigned[$0] == nil }) {
            let count = state.references.keys.filter { state.assigned[$0] == nil }.count
            problem = "\(count) channels wait for their slot's primary (e.g. \(waiting))"
        } else {
            // Every primary that serves slots (each has its subscriber from the topology), and any other still in use.
            let needed = Set(state.assigned.values).union(state.topology?.shards.filter { !$0.slots.isEmpty }.map(\.primary) ?? [])
            problem = needed.sorted().lazy
                .compactMap { endpoint in
                    guard let subscriber = state.subscribers[endpoint] else { return "primary \(endpoint): no subscriber connection yet" }
                    return subscriber.isConnected ? nil : "primary \(endpoint): \(subscriber.problem ?? "subscribing")"
                }
                .first
        }
        let changed = snapshot.withLockedValue { snapshot -> Bool in
            let connected = problem == nil
            defer { snapshot = Snapshot(connected: connected, problem: problem) }
            return snapshot.connected != connected
        }
        if changed { onConnectionStateChange(problem == nil) }
    }
}
