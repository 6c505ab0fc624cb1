import Foundation
import HeraldTestSupport
import NIOCore
import PubSubBridge
import RedisBackend
import Testing

/// Edge nodes on a local Redis Cluster of 3 primaries and 3 replicas (real `redis-server`s on free
/// loopback ports): sharded pub/sub, accounts on every shard, a primary killed mid-publish, and a
/// reshard mid-publish.
@Suite("Redis Cluster with sharded pub/sub", .serialized)
struct RedisClusterTests {
    /// `{"type":"cluster.event","data":{"seq":n}}`.
    static func event(_ seq: Int) -> String {
        #"{"type":"\#(RecordingClient.eventType)","data":{"seq":\#(seq)}}"#
    }

    @Test("accounts on all three shards get each event once, however it was published", .timeLimit(.minutes(2)))
    func eventsOnEveryShard() async throws {
        let cluster = try await ClusterFixture.start(nodes: 3)
        defer {
            cluster.redis.stop()  // now: a Task might not run before the test process exits
            Task { await cluster.stop() }
        }
        let accounts = try await cluster.accounts(perShard: 2, prefix: "spread").flatMap { $0 }
        #expect(accounts.count == 6)
        var clients: [RecordingClient] = []
        for account in accounts {
            for node in cluster.nodes { clients.append(try await RecordingClient.connect(to: node, account: account)) }
        }
        try await cluster.waitForSubscribers(accounts, count: 3)

        let events = 12
        try await withThrowingTaskGroup(of: Void.self) { group in
            for account in accounts {
                group.addTask {
                    for seq in 1...events {
                        switch seq % 4 {
                        case 0: try await cluster.publishLive(account: account, Self.event(seq))
                        case 1: _ = try await cluster.publishWithHistory(account: account, Self.event(seq), allKeys: false)
                        case 2: _ = try await cluster.publishWithHistory(account: account, Self.event(seq), allKeys: true)
                        default:
                            let node = cluster.nodes[seq % cluster.nodes.count]
                            let response = try await node.publish(#"{"account":"\#(account)","type":"\#(RecordingClient.eventType)","data":{"seq":\#(seq)}}"#)
                            guard response.status == 200 else { throw TestFailure("API publish: \(response.status) \(response.body)") }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await cluster.waitUntil("every client has \(events) events", timeout: .seconds(20)) {
            clients.allSatisfy { $0.events.count >= events }
        }
        try await Task.sleep(for: .milliseconds(300))
        for client in clients {
            #expect(client.events.map(\.seq) == Array(1...events), "\(client.account) on node \(client.node.port)")
        }
        for client in clients { await client.close() }
    }

    @Test("history, recovery, presence, typing and upstream work as on one Redis", .timeLimit(.minutes(2)))
    func clientGuarantees() async throws {
        let cluster = try await ClusterFixture.start(nodes: 2)
        defer {
            cluster.redis.stop()  // now: a Task might not run before the test process exits
            Task { await cluster.stop() }
        }
        let accounts = try await cluster.accounts(perShard: 1, prefix: "guarantee").flatMap { $0 }
        for account in accounts {
            let alice = try await RecordingClient.connect(to: cluster.nodes[0], account: account, user: "alice")
            let bob = try await RecordingClient.connect(to: cluster.nodes[1], account: account, user: "bob")
            try await cluster.waitForSubscribers([account], count: 2)

            // Presence across nodes (sharded PUBLISH inside the presence functions) and the roster.
            try await cluster.waitUntil("alice sees bob join", timeout: .seconds(5)) {
                alice.frames(ofType: "presence.join").contains { ($0["data"] as? [String: Any])?["user"] as? String == "bob" }
            }
            let roster = try await TestHTTPClient.request(
                .GET, port: cluster.nodes[0].port, path: "/api/v1/accounts/\(account)/presence",
                headers: [("authorization", "Bearer \(Fixture.apiKey)")])
            #expect(roster.status == 200 && roster.body.contains("alice") && roster.body.contains("bob"), "\(roster.body)")

            // Typing from one node reaches the other.
            try await alice.send(#"{"type":"typing.start","conversation_id":"c1"}"#)
            try await cluster.waitUntil("bob sees alice typing", timeout: .seconds(5)) { !bob.frames(ofType: "typing.start").isEmpty }

            // Upstream: acknowledged once it is in its stream on the cluster.
            try await alice.send(#"{"type":"note.save","id":"n1","data":{"text":"hi"}}"#)
            try await cluster.waitUntil("alice's upstream message is acknowledged", timeout: .seconds(5)) {
                alice.frames(ofType: "ack").contains { $0["ref"] as? String == "n1" }
            }
            let stream = UpstreamStreamKey(shards: 16).key(for: account)
            let entries = try await cluster.backend.send(key: stream, "XRANGE", stream, "-", "+").get()
            #expect(entries.array?.contains { "\($0)".contains(account) && "\($0)".contains("note.save") } == true, "\(stream): \(entries)")

            // History and recovery: bob leaves, misses three events, and comes back with his offset.
            _ = try await cluster.publishWithHistory(account: account, Self.event(1), allKeys: true)
            try await cluster.waitUntil("bob has event 1", timeout: .seconds(5)) { bob.events.count == 1 }
            let since = try #require(bob.offsets.last)
            await bob.close()
            for seq in 2...4 { _ = try await cluster.publishWithHistory(account: account, Self.event(seq), allKeys: false) }
            let back = try await RecordingClient.connect(to: cluster.nodes[1], account: account, user: "bob", since: since)
            try await cluster.waitUntil("bob recovers events 2-4", timeout: .seconds(5)) { back.events.count == 3 }
            #expect(back.events.map(\.seq) == [2, 3, 4])
            #expect(back.recoveries == [true])
            #expect(back.offsets == Array(try await cluster.historyOffsets(account: account).suffix(3)))
            await alice.close()
            await back.close()
        }
    }

    @Test("a primary killed mid-publish: its replica takes over, clients keep receiving, no acknowledged event is lost",
          .timeLimit(.minutes(2)))
    func failover() async throws {
        let cluster = try await ClusterFixture.start(nodes: 2, durable: true)
        defer {
            cluster.redis.stop()  // now: a Task might not run before the test process exits
            Task { await cluster.stop() }
        }
        let byShard = try await cluster.accounts(perShard: 2, prefix: "failover")
        let accounts = byShard.flatMap { $0 }
        var clients: [RecordingClient] = []
        for account in accounts {
            for node in cluster.nodes { clients.append(try await RecordingClient.connect(to: node, account: account)) }
        }
        try await cluster.waitForSubscribers(accounts, count: 2)
        let victim = try await cluster.redis.shard(forSlot: RedisHashSlot.of(AccountChannel.name(for: byShard[0][0])))

        let publishers = accounts.map { AcknowledgedPublisher(account: $0, cluster: cluster) }
        var promoted = 0
        var killedAt = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in publishers { group.addTask { try await publisher.run(every: .milliseconds(40)) } }
            try await Task.sleep(for: .seconds(1))
            killedAt = .now
            promoted = try await cluster.redis.killPrimaryAndAwaitFailover(port: victim.primaryPort)
            print("primary \(victim.primaryPort) killed; replica \(promoted) promoted after \(ContinuousClock.now - killedAt)")
            try await Task.sleep(for: .seconds(2))
            for publisher in publishers { publisher.stop() }
            try await group.waitForAll()
        }
        #expect(promoted != victim.primaryPort)
        try await expectNothingLost(cluster: cluster, accounts: accounts, clients: clients, publishers: publishers)
        // The killed shard's accounts kept getting events after the failover.
        for publisher in publishers where byShard[0].contains(publisher.account) {
            #expect(publisher.acknowledgedAfter(killedAt + .seconds(3)) > 0, "\(publisher.account): nothing acknowledged after the failover")
        }
        for client in clients { await client.close() }
    }

    @Test("a reshard mid-publish moves accounts' keys and subscriptions and loses nothing", .timeLimit(.minutes(2)))
    func slotMigration() async throws {
        let cluster = try await ClusterFixture.start(nodes: 2)
        defer {
            cluster.redis.stop()  // now: a Task might not run before the test process exits
            Task { await cluster.stop() }
        }
        let shards = try await cluster.redis.shards()
        let source = try #require(shards.first { $0.serves(slot: 0) })
        let target = try #require(shards.first { $0.primaryPort != source.primaryPort })
        let moving = 400
        // Accounts in the slots that move (the source's lowest), and others on every shard that stay.
        let migrating = try await cluster.accounts(perShard: 4, prefix: "moving", within: 0...(moving - 1)).flatMap { $0 }
        let staying = try await cluster.accounts(perShard: 1, prefix: "staying", within: moving...16383).flatMap { $0 }
        let accounts = migrating + staying
        var clients: [RecordingClient] = []
        for account in accounts {
            for node in cluster.nodes { clients.append(try await RecordingClient.connect(to: node, account: account)) }
        }
        try await cluster.waitForSubscribers(accounts, count: 2)

        let publishers = accounts.enumerated().map { index, account in
            AcknowledgedPublisher(account: account, cluster: cluster, throughBackend: index % 2 == 1)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in publishers { group.addTask { try await publisher.run(every: .milliseconds(30)) } }
            try await Task.sleep(for: .seconds(1))
            let started = ContinuousClock.now
            let output = try await cluster.redis.reshard(from: source, to: target, slots: moving)
            print("resharded \(moving) slots \(source.primaryPort) → \(target.primaryPort) in \(ContinuousClock.now - started) (\(output.split(separator: "\n").count) lines)")
            try await Task.sleep(for: .milliseconds(1500))
            for publisher in publishers { publisher.stop() }
            try await group.waitForAll()
        }
        for account in migrating {
            #expect(try await cluster.redis.shard(forSlot: RedisHashSlot.of(AccountChannel.name(for: account))).primaryPort == target.primaryPort)
        }
        // The subscriptions followed the slots.
        try await cluster.waitForSubscribers(accounts, count: 2)
        try await expectNothingLost(cluster: cluster, accounts: accounts, clients: clients, publishers: publishers)
        for client in clients { await client.close() }
    }

    /// Every acknowledged event is in its account's history, and every client got exactly the
    /// history, in order, with no `recovered:false`.
    private func expectNothingLost(
        cluster: ClusterFixture, accounts: [String], clients: [RecordingClient], publishers: [AcknowledgedPublisher]
    ) async throws {
        var histories: [String: [String]] = [:]
        for account in accounts { histories[account] = try await cluster.historyOffsets(account: account) }
        for publisher in publishers {
            let stored = Set(histories[publisher.account]!)
            let acknowledged = publisher.acknowledged
            #expect(acknowledged.count >= 10, "\(publisher.account): only \(acknowledged.count) acknowledged")
            let missing = acknowledged.filter { !stored.contains($0) }
            #expect(missing.isEmpty, "\(publisher.account): acknowledged but not in history: \(missing)")
        }
        try await cluster.waitUntil("every client has its account's whole history", timeout: .seconds(20)) {
            clients.allSatisfy { $0.offsets.count >= histories[$0.account]!.count }
        }
        try await Task.sleep(for: .milliseconds(300))
        for client in clients {
            let history = histories[client.account]!
            #expect(client.offsets == history, "\(client.account) on \(client.node.port): \(client.offsets.count) events, history \(history.count); first difference at \(zip(client.offsets, history).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(client.offsets.count, history.count))")
            #expect(!client.recoveries.contains(false), "\(client.account): told recovered:false")
        }
        let total = publishers.map(\.acknowledged.count).reduce(0, +)
        let retried = publishers.map(\.failures).reduce(0, +)
        print("\(total) events acknowledged over \(accounts.count) accounts (\(retried) tries failed and were retried)")
    }
}

/// Publishes one account's events with history, one at a time (the account's order), through an
/// edge node's HTTP API (alternating nodes) or as a backend with `FCALL herald_publish` and the full
/// key list, retrying each until it is acknowledged; keeps the acknowledged offsets.
final class AcknowledgedPublisher: @unchecked Sendable {
    let account: String
    private let cluster: ClusterFixture
    private let throughBackend: Bool
    // Guarded by `lock`.
    private let lock = NSLock()
    private var offsets: [(offset: String, at: ContinuousClock.Instant)] = []
    private var failedTries = 0
    private var stopping = false

    init(account: String, cluster: ClusterFixture, throughBackend: Bool = false) {
        self.account = account
        self.cluster = cluster
        self.throughBackend = throughBackend
    }

    var acknowledged: [String] { lock.withLock { offsets.map(\.offset) } }
    var failures: Int { lock.withLock { failedTries } }
    func acknowledgedAfter(_ instant: ContinuousClock.Instant) -> Int { lock.withLock { offsets.filter { $0.at > instant }.count } }
    func stop() { lock.withLock { stopping = true } }

    func run(every interval: Duration) async throws {
        for seq in 1...100_000 where !lock.withLock({ stopping }) {
            try await publish(seq)
            try await Task.sleep(for: interval)
        }
    }

    /// Up to 60 tries, 50 ms apart: enough to ride out a failover.
    private func publish(_ seq: Int) async throws {
        var lastError = ""
        for attempt in 0..<60 {
            do {
                let offset: String
                if throughBackend {
                    offset = try await cluster.publishWithHistory(account: account, RedisClusterTests.event(seq), allKeys: true)
                } else {
                    let node = cluster.nodes[(seq + attempt) % cluster.nodes.count]
                    let body = #"{"account":"\#(account)","type":"\#(RecordingClient.eventType)","data":{"seq":\#(seq)}}"#
                    let response = try await node.publish(body)
                    guard response.status == 200, let value = response.json?["offset"] as? String else {
                        throw TestFailure("HTTP \(response.status) \(response.body)")
                    }
                    offset = value
                }
                lock.withLock { offsets.append((offset, .now)) }
                return
            } catch {
                lastError = "\(error)"
                lock.withLock { failedTries += 1 }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw TestFailure("\(account) #\(seq) failed 60 times; last: \(lastError)")
    }
}
