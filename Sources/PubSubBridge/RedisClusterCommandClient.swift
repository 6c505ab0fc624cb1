import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Commands to a Redis Cluster: each goes to the primary of its key's hash slot, over one
/// reconnecting ``RedisCommandClient`` per primary.
///
/// The topology comes from `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers without it), asked of a
/// connected primary or, when none is, of the seeds and every node last seen. It is read again
/// every ``RedisClusterConfiguration/refreshInterval``, every
/// ``RedisClusterConfiguration/degradedRefreshInterval`` while a primary is unreachable or a slot
/// unserved (so a promoted replica is found soon after a failover), and whenever a command meets
/// `MOVED`. A command follows `MOVED` (to the new primary) and `ASK` (`ASKING`, then the command, on
/// the target), and is sent again after `TRYAGAIN`, `CLUSTERDOWN` or while its primary is not
/// connected, with growing pauses, until its ``RedisConfiguration/commandTimeout`` has passed or
/// ``RedisClusterConfiguration/maxRedirects`` is used up. A command that may have run (its
/// connection closed, or a deadline passed) is never sent twice.
///
/// Observers registered with ``onTopologyChange(_:)`` hear of every new topology, on ``eventLoop``.
public final class RedisClusterCommandClient: RedisCommandRouter {
    /// The event loop that runs refreshes and completes the returned futures.
    public let eventLoop: EventLoop
    /// Seeds and per-node settings.
    public let configuration: RedisClusterConfiguration
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let loopState: NIOLoopBoundBox<LoopState>

    private struct State {
        var topology: RedisClusterTopology?
        var clients: [RedisClusterEndpoint: RedisCommandClient] = [:]
        var lastRefreshProblem: String? = "the cluster topology was not read yet"
        var isShutDown = false
    }

    /// Refresh bookkeeping, only touched on the event loop.
    private struct LoopState {
        var started = false
        var refreshInFlight = false
        /// Another refresh was asked for while one ran.
        var refreshAgain = false
        var timer: Scheduled<Void>?
        var timerDeadline: NIODeadline?
        var observers: [@Sendable (RedisClusterTopology) -> Void] = []
    }

    /// Refreshes asked for by failures are at least this far apart.
    static let minimumRefreshSpacing: TimeAmount = .milliseconds(100)

    public init(configuration: RedisClusterConfiguration, eventLoop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        var logger = logger
        logger[metadataKey: "redis.role"] = "cluster"
        self.logger = logger
        self.loopState = .makeBoxSendingValue(LoopState(), eventLoop: eventLoop)
    }

    // MARK: RedisCommandRouter

    /// Reads the topology from the seeds and connects to every primary; returns immediately.
    public func start() {
        self.eventLoop.execute {
            guard !self.loopState.value.started else { return }
            self.loopState.value.started = true
            self.refresh()
        }
    }

    public func send(_ arguments: [ByteBuffer], key: String?, replication: RedisReplicationWait?) -> EventLoopFuture<RESPValue> {
        guard !arguments.isEmpty else {
            return eventLoop.makeFailedFuture(RedisError.invalidCommand("a command needs at least its name"))
        }
        let attempt = Attempt(
            arguments: arguments, slot: key.map(RedisHashSlot.of), replication: replication,
            deadline: .now() + configuration.node.commandTimeout)
        return self.send(attempt)
    }

    public var primaryClients: [RedisCommandClient] {
        state.withLockedValue { state in
            (state.topology?.primaries ?? []).compactMap { state.clients[$0] }
        }
    }

    /// Whether the topology is known, every slot has a primary and every primary serving slots is connected.
    public var isConnected: Bool {
        problem == nil
    }

    public var problem: String? {
        state.withLockedValue { state -> String? in
            guard !state.isShutDown else { return "shut down" }
            guard let topology = state.topology else { return state.lastRefreshProblem ?? "the cluster topology was not read yet" }
            if topology.unservedSlots > 0 {
                return "\(topology.unservedSlots) hash slots have no primary (a failover in progress?)"
            }
            for shard in topology.shards where !shard.slots.isEmpty {
                guard let client = state.clients[shard.primary] else { return "primary \(shard.primary): no connection yet" }
                if let problem = client.problem { return "primary \(shard.primary): \(problem)" }
            }
            return nil
        }
    }

    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.loopState.value.timer?.cancel()
            self.loopState.value.timer = nil
            self.loopState.value.observers = []
            let clients = self.state.withLockedValue { state -> [RedisCommandClient] in
                state.isShutDown = true
                defer { state.clients = [:] }
                return Array(state.clients.values)
            }
            return EventLoopFuture.andAllComplete(clients.map { $0.shutdown() }, on: self.eventLoop)
        }
    }

    // MARK: Topology

    /// The topology as last read and adjusted by redirections; nil before the first read.
    public var topology: RedisClusterTopology? {
        state.withLockedValue { $0.topology }
    }

    /// Calls `observer` on ``eventLoop`` with every new topology (and at once with the current one, if any).
    public func onTopologyChange(_ observer: @escaping @Sendable (RedisClusterTopology) -> Void) {
        eventLoop.execute {
            self.loopState.value.observers.append(observer)
            if let topology = self.topology { observer(topology) }
        }
    }

    /// Reads the topology again soon (at most one read runs at a time, spaced by ``minimumRefreshSpacing``).
    /// Callable from any thread.
    public func requestRefresh() {
        eventLoop.execute { self.schedule(in: Self.minimumRefreshSpacing) }
    }

    /// A node answered `MOVED`: the slot lives at `endpoint` now. Applies it at once and reads the whole topology soon.
    public func noteMoved(slot: Int, to endpoint: RedisClusterEndpoint) {
        eventLoop.execute {
            guard let current = self.topology else { return }
            self.apply(current.moving(slot: slot, to: endpoint), source: "MOVED \(slot) \(endpoint)")
            self.schedule(in: Self.minimumRefreshSpacing)
        }
    }

    /// The settings for a connection to `endpoint` (credentials and deadlines as configured).
    public func nodeConfiguration(for endpoint: RedisClusterEndpoint) -> RedisConfiguration {
        configuration.configuration(for: endpoint)
    }

    // MARK: Sending

    private struct Attempt {
        var arguments: [ByteBuffer]
        var slot: Int?
        var replication: RedisReplicationWait?
        var deadline: NIODeadline
        var redirects = 0
        var askTarget: RedisClusterEndpoint?
    }

    private func send(_ attempt: Attempt) -> EventLoopFuture<RESPValue> {
        let (client, replicas) = state.withLockedValue { state -> (RedisCommandClient?, Int) in
            if let target = attempt.askTarget { return (state.clients[target], 0) }
            guard let topology = state.topology else { return (nil, 0) }
            let shard = attempt.slot.flatMap { topology.shard(forSlot: $0) } ?? (attempt.slot == nil ? topology.shards.first { !$0.slots.isEmpty } : nil)
            return (shard.flatMap { state.clients[$0.primary] }, shard?.replicas.count ?? 0)
        }
        guard let client else {
            return retry(attempt, after: RedisError.notConnected)
        }
        var commands = [attempt.arguments]
        if attempt.askTarget != nil { commands.insert([ByteBuffer(string: "ASKING")], at: 0) }
        let waitFor = min(attempt.replication?.replicas ?? 0, replicas)
        if let replication = attempt.replication, waitFor > 0 { commands.append(replication.command(replicas: waitFor)) }
        let replies = client.send(inOrder: commands)
        let index = attempt.askTarget == nil ? 0 : 1
        let reply = replies[index].flatMap { value in
            // The reply counts once WAIT answered (however many replicas it reports).
            index + 1 < replies.count ? replies[index + 1].map { _ in value } : client.eventLoop.makeSucceededFuture(value)
        }
        return reply.hop(to: eventLoop).flatMapError { error in self.recover(attempt, from: error) }
    }

    /// Follows a redirection, or tries again when the command surely did not run; else fails with `error`.
    private func recover(_ attempt: Attempt, from error: any Error) -> EventLoopFuture<RESPValue> {
        switch RedisClusterRedirect(error) {
        case .moved(let slot, let endpoint):
            noteMoved(slot: slot, to: endpoint)
            var next = attempt
            next.askTarget = nil
            return follow(next, after: error, delay: nil, ensure: endpoint)
        case .ask(_, let endpoint):
            var next = attempt
            next.askTarget = endpoint
            return follow(next, after: error, delay: nil, ensure: endpoint)
        case .tryAgain, .clusterDown:
            var next = attempt
            next.askTarget = nil
            return retry(next, after: error)
        case nil:
            if (error as? RedisError) == .notConnected { return retry(attempt, after: error) }
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends again after a pause (25 ms doubling to 400 ms), reading the topology meanwhile.
    private func retry(_ attempt: Attempt, after error: any Error) -> EventLoopFuture<RESPValue> {
        let delay = TimeAmount.milliseconds(min(400, 25 << min(attempt.redirects, 4)))
        requestRefresh()
        return follow(attempt, after: error, delay: delay, ensure: nil)
    }

    private func follow(_ attempt: Attempt, after error: any Error, delay: TimeAmount?, ensure endpoint: RedisClusterEndpoint?)
        -> EventLoopFuture<RESPValue>
    {
        var next = attempt
        next.redirects += 1
        let resendAt = NIODeadline.now() + (delay ?? .zero)
        guard next.redirects <= configuration.maxRedirects, resendAt < attempt.deadline,
            !state.withLockedValue({ $0.isShutDown })
        else {
            return eventLoop.makeFailedFuture(error)
        }
        if let endpoint, state.withLockedValue({ $0.clients[endpoint] == nil }) {
            // An ASK target or a new primary: connect, then give it a moment.
            eventLoop.execute { self.ensureClient(for: endpoint) }
            return eventLoop.scheduleTask(in: .milliseconds(20)) {}.futureResult.flatMap { self.send(next) }
        }
        guard let delay else { return send(next) }
        return eventLoop.scheduleTask(in: delay) {}.futureResult.flatMap { self.send(next) }
    }

    // MARK: Refreshing

    /// Makes sure a refresh starts within `delay` (or sooner if one is already due).
    private func schedule(in delay: TimeAmount) {
        eventLoop.preconditionInEventLoop()
        guard loopState.value.started, !state.withLockedValue({ $0.isShutDown }) else { return }
        if loopState.value.refreshInFlight {
            loopState.value.refreshAgain = true
            return
        }
        let deadline = NIODeadline.now() + delay
        if let armed = loopState.value.timerDeadline, armed <= deadline { return }
        loopState.value.timer?.cancel()
        loopState.value.timerDeadline = deadline
        loopState.value.timer = eventLoop.scheduleTask(deadline: deadline) {
            self.loopState.value.timer = nil
            self.loopState.value.timerDeadline = nil
            self.refresh()
        }
    }

    private func refresh() {
        eventLoop.preconditionInEventLoop()
        guard !loopState.value.refreshInFlight, !state.withLockedValue({ $0.isShutDown }) else { return }
        loopState.value.refreshInFlight = true
        loopState.value.refreshAgain = false
        let (connected, others) = state.withLockedValue { state -> ([(RedisClusterEndpoint, RedisCommandClient)], [RedisClusterEndpoint]) in
            let primaries = state.topology?.primaries ?? []
            let connected = primaries.compactMap { endpoint in state.clients[endpoint].map { (endpoint, $0) } }.filter { $0.1.isConnected }
            var others: [RedisClusterEndpoint] = []
            for endpoint in (state.topology?.nodes ?? []) + configuration.seeds where !others.contains(endpoint) {
                others.append(endpoint)
            }
            return (connected, others)
        }
        readTopology(fromClients: connected[...], orNodes: others[...]).whenComplete { result in
            self.loopState.value.refreshInFlight = false
            switch result {
            case .success(let topology):
                self.state.withLockedValue { $0.lastRefreshProblem = nil }
                self.apply(topology, source: "refresh")
            case .failure(let error):
                self.state.withLockedValue { $0.lastRefreshProblem = "could not read the cluster topology: \(error)" }
                self.logger.warning("Could not read the Redis Cluster topology from any node", metadata: ["error": "\(error)"])
            }
            let degraded = self.problem != nil
            if self.loopState.value.refreshAgain {
                self.schedule(in: Self.minimumRefreshSpacing)
            } else {
                self.schedule(in: degraded ? self.configuration.degradedRefreshInterval : self.configuration.refreshInterval)
            }
        }
    }

    /// Asks connected primaries first, then the other known nodes and the seeds over one-off connections.
    private func readTopology(
        fromClients clients: ArraySlice<(RedisClusterEndpoint, RedisCommandClient)>, orNodes nodes: ArraySlice<RedisClusterEndpoint>
    ) -> EventLoopFuture<RedisClusterTopology> {
        if let (endpoint, client) = clients.first {
            return Self.readTopology(endpoint: endpoint, eventLoop: client.eventLoop) { client.send($0) }
                .hop(to: eventLoop)
                .flatMapError { _ in self.readTopology(fromClients: clients.dropFirst(), orNodes: nodes) }
        }
        guard let endpoint = nodes.first else {
            return eventLoop.makeFailedFuture(RedisError.connectionFailed("no cluster node answered (seeds: \(configuration.seeds.map(\.description).joined(separator: ",")))"))
        }
        return RedisConnection.connect(configuration: configuration.configuration(for: endpoint), eventLoop: eventLoop, logger: logger)
            .flatMap { connection in
                Self.readTopology(endpoint: endpoint, eventLoop: connection.eventLoop) { connection.send($0) }
                    .always { _ in _ = connection.close() }
            }
            .hop(to: eventLoop)
            .flatMapError { error in
                nodes.count > 1
                    ? self.readTopology(fromClients: [], orNodes: nodes.dropFirst())
                    : self.eventLoop.makeFailedFuture(error)
            }
    }

    /// `CLUSTER SHARDS`, or `CLUSTER SLOTS` when the server does not know it.
    private static func readTopology(
        endpoint: RedisClusterEndpoint, eventLoop: EventLoop, send: @escaping @Sendable ([ByteBuffer]) -> EventLoopFuture<RESPValue>
    ) -> EventLoopFuture<RedisClusterTopology> {
        send(["CLUSTER", "SHARDS"].map { ByteBuffer(string: $0) })
            .flatMapThrowing { reply in try RedisClusterTopology(shardsReply: reply, connectedTo: endpoint) }
            .flatMapError { error in
                guard let message = (error as? RedisError)?.serverMessage, message.lowercased().contains("unknown") else {
                    return eventLoop.makeFailedFuture(error)
                }
                return send(["CLUSTER", "SLOTS"].map { ByteBuffer(string: $0) })
                    .flatMapThrowing { reply in try RedisClusterTopology(slotsReply: reply, connectedTo: endpoint) }
            }
            .flatMapThrowing { topology in
                guard !topology.shards.isEmpty else { throw RedisError.protocolError("\(endpoint) reports no primaries (is it in cluster mode?)") }
                return topology
            }
    }

    /// Takes a new topology: connects to new primaries, closes the connections to nodes that are no
    /// longer primaries, and tells the observers when anything changed.
    private func apply(_ topology: RedisClusterTopology, source: String) {
        eventLoop.preconditionInEventLoop()
        let (changed, retired) = state.withLockedValue { state -> (Bool, [RedisCommandClient]) in
            guard !state.isShutDown else { return (false, []) }
            let changed = state.topology != topology
            state.topology = topology
            let primaries = Set(topology.primaries)
            var retired: [RedisCommandClient] = []
            for (endpoint, client) in state.clients where !primaries.contains(endpoint) {
                retired.append(client)
                state.clients[endpoint] = nil
            }
            return (changed, retired)
        }
        for endpoint in topology.primaries { ensureClient(for: endpoint) }
        for client in retired { _ = client.shutdown() }
        guard changed else { return }
        logger.info(
            "Redis Cluster topology",
            metadata: [
                "redis.source": "\(source)",
                "redis.primaries": "\(topology.shards.map { "\($0.primary)(\($0.slots.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")))" }.joined(separator: " "))",
            ])
        for observer in loopState.value.observers { observer(topology) }
    }

    /// The client of `endpoint`, created and started when missing.
    private func ensureClient(for endpoint: RedisClusterEndpoint) {
        eventLoop.preconditionInEventLoop()
        let created = state.withLockedValue { state -> RedisCommandClient? in
            guard !state.isShutDown, state.clients[endpoint] == nil else { return nil }
            let client = RedisCommandClient(configuration: configuration.configuration(for: endpoint), eventLoop: eventLoop, logger: logger)
            state.clients[endpoint] = client
            return client
        }
        created?.start(onConnectionChange: { [weak self] connected in
            // A primary lost: the cluster may be failing over; read the topology until it settles.
            if !connected { self?.requestRefresh() }
        })
    }
}
