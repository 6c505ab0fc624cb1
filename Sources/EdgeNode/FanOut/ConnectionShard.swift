import HeraldBroker
import HeraldProtocol
import NIOCore

/// The connections of one event loop, indexed by account, user, sub-channel and connection id.
///
/// Confined to its loop: fan-out hops here once per event and writes the pre-framed bytes to
/// every local recipient, then flushes all of them in one pass after the loop's queued work, so
/// bursts of events cost one syscall per connection rather than one per event.
final class ConnectionShard {
    private struct Members {
        var all: [ObjectIdentifier: any EventRecipient] = [:]
        /// Keyed by exact UTF-8 bytes: `String` keys would merge the NFC and NFD spellings of one id.
        var byUser: [RoutingKey: [ObjectIdentifier: any EventRecipient]] = [:]
        var byChannel: [RoutingKey: [ObjectIdentifier: any EventRecipient]] = [:]
        /// Connection ids are unique per node, so each names at most one recipient.
        var byConnection: [RoutingKey: any EventRecipient] = [:]
    }

    let eventLoop: EventLoop
    let index: Int
    private let interest: AccountInterest
    private let metrics: NodeMetrics
    private let readiness: NodeReadiness
    private let presence: PresenceTracker
    private let lifecycle: (any LifecycleRecorder)?
    private var accounts: [String: Members] = [:]
    private var pendingFlush: [any EventRecipient] = []
    private var flushScheduled = false
    private var idleSweep: RepeatedTask?
    /// What the sessions on this loop share (made by the first of them; see ``SessionFactory``).
    var sessionContext: SessionContext?

    init(
        eventLoop: EventLoop, index: Int, interest: AccountInterest, metrics: NodeMetrics, readiness: NodeReadiness, presence: PresenceTracker,
        lifecycle: (any LifecycleRecorder)? = nil
    ) {
        self.eventLoop = eventLoop
        self.lifecycle = lifecycle
        self.index = index
        self.interest = interest
        self.metrics = metrics
        self.readiness = readiness
        self.presence = presence
    }

    /// Registers `connection` with its sub-channels and returns the offset after which the node
    /// delivers every event of the account here (nil when unknown): a connection that started
    /// before it must replay the difference itself.
    func add(_ connection: any EventRecipient, start: StreamOffset?) -> StreamOffset? {
        let account = connection.identity.account
        let coverage = interest.join(account: account, shard: index, start: start)
        let id = ObjectIdentifier(connection)
        readiness.connectionOpened(account: account, user: connection.identity.user)
        presence.connected(account: account, member: connection.presenceMember, info: PresenceTracker.infoText(connection.identity.info))
        accounts[account, default: Members()].all[id] = connection
        accounts[account]!.byUser[RoutingKey(connection.identity.user), default: [:]][id] = connection
        accounts[account]!.byConnection[RoutingKey(connection.connectionID)] = connection
        record(.connectionOpen, connection)
        for channel in connection.subscribedChannels {
            accounts[account]!.byChannel[RoutingKey(channel), default: [:]][id] = connection
        }
        return coverage
    }

    /// The newest history offset this node delivered to the account.
    func delivered(account: String) -> StreamOffset? {
        interest.delivered(account: account)
    }

    func remove(_ connection: any EventRecipient) {
        let account = connection.identity.account
        let id = ObjectIdentifier(connection)
        guard var members = accounts[account], members.all.removeValue(forKey: id) != nil else { return }
        readiness.connectionClosed(account: account, user: connection.identity.user)
        presence.disconnected(account: account, member: connection.presenceMember)
        let user = RoutingKey(connection.identity.user)
        members.byUser[user]?.removeValue(forKey: id)
        if members.byUser[user]?.isEmpty == true { members.byUser[user] = nil }
        members.byConnection[RoutingKey(connection.connectionID)] = nil
        record(.connectionClose, connection)
        for channel in connection.subscribedChannels.map({ RoutingKey($0) }) {
            members.byChannel[channel]?.removeValue(forKey: id)
            if members.byChannel[channel]?.isEmpty == true { members.byChannel[channel] = nil }
        }
        if members.all.isEmpty {
            accounts[account] = nil
            interest.leave(account: account, shard: index)
        } else {
            accounts[account] = members
        }
    }

    /// Reports a connection opening or closing to the lifecycle stream, when the node has one.
    private func record(_ kind: LifecycleEvent.Kind, _ connection: any EventRecipient) {
        guard let lifecycle else { return }
        let event = LifecycleEvent(kind: kind, account: connection.identity.account, user: connection.identity.user, connection: connection.connectionID)
        let failures = metrics.lifecycleFailures
        lifecycle.record(event).whenFailure { _ in failures.increment() }
    }

    func subscribe(_ connection: any EventRecipient, to channel: String) {
        let account = connection.identity.account
        guard accounts[account] != nil else { return }
        accounts[account]!.byChannel[RoutingKey(channel), default: [:]][ObjectIdentifier(connection)] = connection
    }

    func unsubscribe(_ connection: any EventRecipient, from channel: String) {
        let account = connection.identity.account
        let channel = RoutingKey(channel)
        accounts[account]?.byChannel[channel]?.removeValue(forKey: ObjectIdentifier(connection))
        if accounts[account]?.byChannel[channel]?.isEmpty == true { accounts[account]!.byChannel[channel] = nil }
    }

    /// Writes `event` to every local connection of `account` that its routing selects.
    func deliver(_ event: OutboundEvent, to account: String) {
        guard let members = accounts[account] else { return }
        let routing = event.routing
        if let target = routing.connection {
            // A reply: at most one recipient, and only if every other target also selects it.
            guard let connection = members.byConnection[target],
                routing.selects(user: connection.identity.user, connection: connection.connectionID, isSubscribed: connection.isSubscribed(to:)),
                connection.write(event)
            else { return }
            metrics.deliveries.increment()
            return
        }
        let candidates: [ObjectIdentifier: any EventRecipient]
        if let user = routing.user {
            candidates = members.byUser[user, default: [:]]
        } else if let channel = routing.channel {
            candidates = members.byChannel[channel, default: [:]]
        } else {
            candidates = members.all
        }
        let needsCheck = routing.excludeUser != nil || (routing.user != nil && routing.channel != nil)
        var delivered = 0
        for connection in candidates.values {
            if needsCheck, !routing.selects(user: connection.identity.user, isSubscribed: connection.isSubscribed(to:)) { continue }
            if connection.write(event) { delivered += 1 }
        }
        if delivered > 0 { metrics.deliveries.increment(by: Int64(delivered)) }
    }

    /// Queues `connection` for the shard's next flush pass.
    func needsFlush(_ connection: any EventRecipient) {
        pendingFlush.append(connection)
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.assumeIsolated().execute { self.flushPending() }
    }

    private func flushPending() {
        let connections = pendingFlush
        pendingFlush.removeAll(keepingCapacity: true)
        flushScheduled = false
        for connection in connections { connection.flush() }
    }

    /// Closes connections silent for longer than two heartbeats and those whose token ran out,
    /// checking every second (or every half heartbeat, when that is shorter).
    func startIdleSweep(heartbeat: TimeAmount) {
        let limit = heartbeat * 2
        let interval = TimeAmount.nanoseconds(min(max(heartbeat.nanoseconds / 2, 100_000_000), 1_000_000_000))
        let shard = NIOLoopBound(self, eventLoop: eventLoop)
        idleSweep = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            shard.value.closeIdle(now: .now(), limit: limit)
        }
    }

    func closeIdle(now: NIODeadline, limit: TimeAmount) {
        for members in accounts.values {
            for connection in members.all.values {
                if now - connection.lastActivity > limit {
                    metrics.idleCloses.increment()
                    connection.close(code: .idleTimeout, reason: "no message for two heartbeats")
                } else if let expiresAt = connection.expiresAt, now >= expiresAt {
                    connection.closeExpired()
                }
            }
        }
    }

    /// Closes every connection with 1012 in `batches` groups, `interval` apart.
    func drain(batches: Int, interval: TimeAmount) {
        idleSweep?.cancel()
        let connections = accounts.values.flatMap { $0.all.values }
        guard !connections.isEmpty else { return }
        let perBatch = max(1, (connections.count + batches - 1) / batches)
        for (batch, start) in stride(from: 0, to: connections.count, by: perBatch).enumerated() {
            let group = connections[start..<min(start + perBatch, connections.count)]
            eventLoop.assumeIsolated().scheduleTask(in: interval * Int64(batch)) {
                for connection in group { connection.close(code: .serviceRestart, reason: "node draining: reconnect") }
            }
        }
    }

    func stop() {
        idleSweep?.cancel()
        idleSweep = nil
        sessionContext = nil  // it refers back to this shard
    }
}
