import Atomics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Opens and holds the virtual users' WebSocket connections: the ramp, reconnects with backoff,
/// churn and pings. Each connection slot is bound to one event loop (slot `i` to loop
/// `i % loops`), and all of a slot's state lives in that loop's ``LoopTally``: the per-frame path
/// is a plain `ChannelHandler` with no lock and no task per connection.
public final class ConnectionFleet: Sendable {
    private let configuration: SwarmConfiguration
    private let loops: [any EventLoop]
    private let tallies: [NIOLoopBound<LoopTally>]
    private let addresses: [SocketAddress]
    private let tokens: [String]
    private let sources: [SocketAddress?]
    let counters = FleetCounters()
    private let running = NIOLockedValueBox(false)
    private let logger: Logger

    /// - Parameters:
    ///   - tokens: one per (account, user): index `account * usersPerAccount + user`; empty for
    ///     the generic dialect.
    public init(configuration: SwarmConfiguration, group: any EventLoopGroup, tokens: [String], logger: Logger) throws {
        self.configuration = configuration
        self.loops = Array(group.makeIterator())
        self.tallies = loops.map { loop in
            try! loop.submit { NIOLoopBound(LoopTally(accounts: configuration.accounts), eventLoop: loop) }.wait()
        }
        self.addresses = try configuration.targets.map { try SocketAddress.makeAddressResolvingHost($0.host, port: $0.port) }
        self.sources = try configuration.sourceAddresses.addresses.map { try SocketAddress(ipAddress: $0, port: 0) }
        self.tokens = tokens
        self.logger = logger
    }

    // MARK: Ramp

    /// Starts connecting every slot at the configured ramp rate; the future completes when every
    /// slot has been launched (not necessarily connected).
    public func ramp() -> EventLoopFuture<Void> {
        running.withLockedValue { $0 = true }
        let loop = loops[0]
        let promise = loop.makePromise(of: Void.self)
        let startedAt = WallClock.monotonic()
        let total = configuration.connections
        let rate = configuration.rampPerSecond
        let maxPending = configuration.maxPendingConnects
        let launched = NIOLoopBoundBox.makeBoxSendingValue(0, eventLoop: loop)
        loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(5)) { task in
            let elapsed = Double(WallClock.monotonic() - startedAt) / 1e9
            let due = rate > 0 ? min(total, Int(rate * elapsed) + 1) : total
            while launched.value < due, self.counters.pending.load(ordering: .relaxed) < maxPending, self.isRunning {
                self.launch(slot: launched.value)
                launched.value += 1
            }
            if launched.value >= total || !self.isRunning {
                task.cancel()
                promise.succeed()
            }
        }
        return promise.futureResult
    }

    var isRunning: Bool { running.withLockedValue { $0 } }

    private func launch(slot: Int) {
        counters.launched.wrappingIncrement(ordering: .relaxed)
        counters.pending.wrappingIncrement(ordering: .relaxed)
        let loopIndex = slot % loops.count
        loops[loopIndex].execute { self.dial(slot: slot, loopIndex: loopIndex) }
    }

    // MARK: One connection

    /// Starts one connection attempt for `slot` (on its loop; `pending` already counts it).
    private func dial(slot: Int, loopIndex: Int) {
        let loop = loops[loopIndex]
        let bound = tallies[loopIndex]
        let tally = bound.value
        if tally.slots[slot] == nil {
            tally.slots[slot] = ConnectionSlot(index: slot, account: configuration.account(ofSlot: slot))
        }
        tally.slots[slot]?.attemptStartedAt = WallClock.monotonic()
        counters.attempts.wrappingIncrement(ordering: .relaxed)
        // With --resume a slot that received an offset asks for everything after it; without
        // one (its first connection) its chain of owed events starts afresh.
        let since = configuration.resume ? tally.slots[slot]?.lastOffset : nil
        tally.slots[slot]?.resumedFrom = since
        tally.slots[slot]?.awaitingRecovery = since != nil
        if configuration.resume, since == nil { tally.slots[slot]?.owedSince = nil }

        let endpoint = configuration.targets[slot % configuration.targets.count]
        let path = requestPath(slot: slot, endpoint: endpoint, since: since)
        let waitsForWelcome = configuration.dialect == .herald
        let hello = configuration.hello
        let subscriptions = configuration.channels
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(configuration.handshakeTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        if !sources.isEmpty, let source = sources[slot % sources.count] {
            // IP_BIND_ADDRESS_NO_PORT (24): choose the port at connect time, per destination.
            bootstrap = bootstrap
                .channelOption(ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: 24)), value: 1)
                .bind(to: source)
        }
        bootstrap = bootstrap.channelInitializer { channel in
            let writer = UpgradeRequestWriter(path: path, host: endpoint.hostHeader)
            let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 20, automaticErrorHandling: false) { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let handler = WebSocketClientHandler(
                        slot: slot, tally: bound.value, waitsForWelcome: waitsForWelcome, hello: hello,
                        subscriptions: subscriptions
                    ) { context, node, offset in
                        self.established(slot: slot, loopIndex: loopIndex, node: node, offset: offset)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers(
                    leftOverBytesStrategy: .forwardBytes,
                    withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                        context.pipeline.removeHandler(name: UpgradeRequestWriter.name, promise: nil)
                    })
                )
                try channel.pipeline.syncOperations.addHandler(writer, name: UpgradeRequestWriter.name)
            }
        }
        bootstrap.connect(to: addresses[slot % addresses.count]).whenComplete { result in
            switch result {
            case .success(let channel):
                bound.value.slots[slot]?.channel = channel
                channel.closeFuture.whenComplete { _ in self.ended(slot: slot, loopIndex: loopIndex) }
                loop.scheduleTask(in: self.configuration.handshakeTimeout) {
                    if bound.value.slots[slot]?.establishedAt == nil, bound.value.slots[slot]?.channel === channel {
                        channel.close(promise: nil)
                    }
                }
            case .failure(let error):
                self.logger.debug("connect failed", metadata: ["swarm.slot": "\(slot)", "error": "\(error)"])
                self.ended(slot: slot, loopIndex: loopIndex)
            }
        }
    }

    /// The request path: the template's placeholders filled in, `token=` added for Herald
    /// unless the template places the token itself, and `since=` when the slot resumes (offsets
    /// hold only `0-9 a-z : -`, see ``FrameScan``, so they need no escaping).
    func requestPath(slot: Int, endpoint: Endpoint, since: String? = nil) -> String {
        let account = configuration.account(ofSlot: slot)
        let user = configuration.user(ofSlot: slot)
        let token = tokens.isEmpty ? "" : tokens[account * configuration.usersPerAccount + user]
        var path = endpoint.path(account: configuration.accountName(account), user: "u\(user)", token: token)
        if configuration.dialect == .herald {
            if path == "/" { path = "/ws" }
            if !endpoint.pathTemplate.contains("{token}") {
                path += (path.contains("?") ? "&" : "?") + "token=" + token
            }
            if let since {
                path += (path.contains("?") ? "&" : "?") + "since=" + since
            }
        }
        return path
    }

    private func established(slot: Int, loopIndex: Int, node: String?, offset: String?) {
        let tally = tallies[loopIndex].value
        guard var state = tally.slots[slot], state.establishedAt == nil else { return }
        let now = WallClock.monotonic()
        state.establishedAt = now
        if state.resumedFrom == nil || state.owedSince == nil { state.owedSince = now }
        if state.resumedFrom == nil, let offset { state.lastOffset = offset }
        if state.resumedFrom != nil { counters.resumes.wrappingIncrement(ordering: .relaxed) }
        state.consecutiveFailures = 0
        state.node = node
        if let node { tally.nodes[node, default: 0] += 1 }
        tally.connectTime.recordClamped((now - state.attemptStartedAt) / 1000)
        if state.establishments > 0 { counters.reconnects.wrappingIncrement(ordering: .relaxed) }
        state.establishments += 1
        tally.slots[slot] = state
        counters.established.wrappingIncrement(ordering: .relaxed)
        counters.connected.wrappingIncrement(ordering: .relaxed)
        counters.pending.wrappingDecrement(ordering: .relaxed)
    }

    /// A connection closed or an attempt failed: count it and reconnect if the run goes on.
    private func ended(slot: Int, loopIndex: Int) {
        let tally = tallies[loopIndex].value
        guard var state = tally.slots[slot] else { return }
        var delay: TimeAmount
        if state.establishedAt != nil {
            counters.connected.wrappingDecrement(ordering: .relaxed)
            if let node = state.node { tally.nodes[node, default: 1] -= 1 }
            if !isRunning {
                delay = .zero
            } else if state.churned {
                let downtime = configuration.churnDowntime.nanoseconds
                delay = downtime > 0 ? .nanoseconds(Int64.random(in: 0...downtime)) : .zero
            } else {
                counters.drops.wrappingIncrement(ordering: .relaxed)
                delay = backoff(failures: 0)
            }
        } else {
            counters.failures.wrappingIncrement(ordering: .relaxed)
            counters.pending.wrappingDecrement(ordering: .relaxed)
            state.consecutiveFailures += 1
            delay = backoff(failures: state.consecutiveFailures)
        }
        state.establishedAt = nil
        state.channel = nil
        state.node = nil
        state.churned = false
        if !configuration.resume { state.owedSince = nil }
        tally.slots[slot] = state
        guard isRunning, configuration.reconnect else { return }
        counters.pending.wrappingIncrement(ordering: .relaxed)
        loops[loopIndex].scheduleTask(in: delay) {
            guard self.isRunning else {
                self.counters.pending.wrappingDecrement(ordering: .relaxed)
                return
            }
            self.dial(slot: slot, loopIndex: loopIndex)
        }
    }

    /// Browser-style backoff: after a drop, a uniformly random wait below the minimum (so a
    /// killed node's clients spread out); after the n-th failure in a row, the minimum doubled
    /// n-1 times (capped at the maximum) with ±50 % jitter.
    func backoff(failures: Int) -> TimeAmount {
        let minimum = configuration.reconnectMinimum.nanoseconds
        guard failures > 0 else { return .nanoseconds(Int64.random(in: 0...max(0, minimum))) }
        let base = min(configuration.reconnectMaximum.nanoseconds, minimum << min(20, failures - 1))
        return .nanoseconds(Int64(Double(base) * Double.random(in: 0.5...1.0)))
    }

    // MARK: Churn, pings, stop

    /// Closes `perSecond` random established connections every second (they reconnect at once,
    /// or after a uniform random wait below `churnDowntime`);
    /// returns the task so the caller can cancel it. Nothing is closed while churn is paused.
    public func startChurn(perSecond: Double) -> RepeatedTask? {
        guard perSecond > 0 else { return nil }
        let credit = NIOLoopBoundBox.makeBoxSendingValue(0.0, eventLoop: loops[0])
        return loops[0].scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            guard !self.counters.churnPaused.load(ordering: .relaxed) else { return }
            credit.value += perSecond / 10
            while credit.value >= 1 {
                credit.value -= 1
                let slot = Int.random(in: 0..<self.configuration.connections)
                let loopIndex = slot % self.loops.count
                self.loops[loopIndex].execute {
                    let tally = self.tallies[loopIndex].value
                    guard tally.slots[slot]?.establishedAt != nil, let channel = tally.slots[slot]?.channel else { return }
                    tally.slots[slot]?.churned = true
                    self.counters.churned.wrappingIncrement(ordering: .relaxed)
                    channel.close(promise: nil)
                }
            }
        }
    }

    /// Pauses or resumes churn.
    func pauseChurn(_ paused: Bool) {
        counters.churnPaused.store(paused, ordering: .relaxed)
    }

    /// Sends Herald client messages across the fleet: `typing.start` in one of `conversations`
    /// conversations (`c0`, `c1`, …, in turn) at `typingPerSecond`, and `presence.get` at
    /// `presencePerSecond`, each kind going to the slots in turn (round robin), so every
    /// connection sends at most (typing + presence) / connections messages per second — the
    /// caller keeps that under the server's per-connection flood limit. A message whose slot is
    /// not established at that moment is skipped (counted). Returns the task to cancel.
    public func startClientMessages(typingPerSecond: Double, presencePerSecond: Double, conversations: Int) -> RepeatedTask? {
        guard typingPerSecond > 0 || presencePerSecond > 0 else { return nil }
        struct Cursor {
            var typingCredit = 0.0
            var presenceCredit = 0.0
            var typingSlot = 0
            var presenceSlot = 0
            var conversation = 0
        }
        let cursor = NIOLoopBoundBox.makeBoxSendingValue(Cursor(), eventLoop: loops[0])
        let total = configuration.connections
        let conversationCount = max(1, conversations)
        return loops[0].scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { _ in
            cursor.value.typingCredit += typingPerSecond / 20
            cursor.value.presenceCredit += presencePerSecond / 20
            while cursor.value.typingCredit >= 1 {
                cursor.value.typingCredit -= 1
                let slot = cursor.value.typingSlot
                cursor.value.typingSlot = (slot + 1) % total
                let conversation = cursor.value.conversation
                cursor.value.conversation = (conversation + 1) % conversationCount
                self.send(#"{"type":"typing.start","conversation_id":"c\#(conversation)"}"#, slot: slot, counter: self.counters.typingSent)
            }
            while cursor.value.presenceCredit >= 1 {
                cursor.value.presenceCredit -= 1
                let slot = cursor.value.presenceSlot
                cursor.value.presenceSlot = (slot + 1) % total
                self.send(#"{"type":"presence.get"}"#, slot: slot, counter: self.counters.presenceSent)
            }
        }
    }

    /// Sends one text message on `slot`'s connection if it is established (on its loop).
    private func send(_ text: String, slot: Int, counter: ManagedAtomic<Int>) {
        let loopIndex = slot % loops.count
        loops[loopIndex].execute {
            guard self.tallies[loopIndex].value.slots[slot]?.establishedAt != nil,
                let channel = self.tallies[loopIndex].value.slots[slot]?.channel
            else {
                self.counters.messagesSkipped.wrappingIncrement(ordering: .relaxed)
                return
            }
            var payload = channel.allocator.buffer(capacity: text.utf8.count)
            payload.writeString(text)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: payload), promise: nil)
            counter.wrappingIncrement(ordering: .relaxed)
        }
    }

    /// Sends a ping on every established connection every `seconds` (JSON `ping` for Herald, a
    /// WebSocket ping frame otherwise).
    public func startPings(every seconds: Double) -> [RepeatedTask] {
        guard seconds > 0 else { return [] }
        let interval = TimeAmount.milliseconds(Int64(seconds * 1000))
        let json = configuration.dialect == .herald
        return loops.enumerated().map { index, loop in
            loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                for slot in self.tallies[index].value.slots.values where slot.establishedAt != nil {
                    guard let channel = slot.channel else { continue }
                    var payload = channel.allocator.buffer(capacity: 16)
                    if json { payload.writeString(#"{"type":"ping"}"#) }
                    let frame = WebSocketFrame(fin: true, opcode: json ? .text : .ping, maskKey: .random(), data: payload)
                    channel.writeAndFlush(frame, promise: nil)
                }
            }
        }
    }

    /// Stops reconnecting and closes every connection.
    public func stop() -> EventLoopFuture<Void> {
        running.withLockedValue { $0 = false }
        let closes = loops.enumerated().map { index, loop in
            loop.submit {
                for slot in self.tallies[index].value.slots.values { slot.channel?.close(promise: nil) }
            }
        }
        return EventLoopFuture.andAllComplete(closes, on: loops[0])
    }

    // MARK: Reading the tallies

    /// Every loop's counters; with `resetLatency` each loop's step histogram starts over.
    func snapshots(resetLatency: Bool) -> EventLoopFuture<[LoopSnapshot]> {
        let futures = loops.enumerated().map { index, loop in
            loop.submit { self.tallies[index].value.snapshot(resetLatency: resetLatency) }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loops[0])
    }

    /// Loss of one step, summed over loops, per account.
    func evaluate(_ window: StepWindow) -> EventLoopFuture<[AccountLoss]> {
        let futures = loops.enumerated().map { index, loop in
            loop.submit { self.tallies[index].value.evaluate(window) }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loops[0]).map { perLoop in
            var merged = [Int: AccountLoss]()
            for entry in perLoop.joined() {
                merged[entry.account, default: AccountLoss(account: entry.account)].add(entry)
            }
            return merged.values.sorted { $0.account < $1.account }
        }
    }
}
