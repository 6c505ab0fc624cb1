import Foundation
import HeraldTestSupport
import Testing

/// Three edge nodes behind HAProxy, started with `deploy/local/cluster.sh` exactly as an operator would.
///
/// 300 clients on 10 accounts connect through the load balancer (half on `/ws/accounts/{account}/`, hashed,
/// half on `/ws`, least connections). Phase 1: events published with `PUBLISH`, `FCALL herald_publish` and the
/// HTTP API reach every client exactly once, in order. Phase 2: while events keep being published with history
/// through the HTTP API, node 1 is stopped with SIGTERM (drain, 1012) and node 2 killed with SIGKILL; every
/// client reconnects through HAProxy with `?since=<last offset>` and ends up on node 3 having received every
/// history event — every acknowledged one among them — exactly once, in publish order.
@Suite("Local cluster behind HAProxy", .serialized)
struct RollingRestartTests {
    static let accounts = (0..<10).map { "acct-\($0)" }
    static let clientCount = 300
    static let usersPerAccount = 3
    static let phaseOneEvents = 15

    @Test("a drained and a killed node lose no event", .timeLimit(.minutes(5)))
    func rollingRestartLosesNothing() async throws {
        let started = ContinuousClock.now
        let cluster = try await LocalCluster.up(nodes: 3)
        defer { cluster.down() }
        let redis = try await ClusterRedis.connect(url: cluster.redisURL)

        let clients = try await connectClients(cluster)
        do {
            try await phaseOne(cluster: cluster, redis: redis, clients: clients)
            try await phaseTwo(cluster: cluster, redis: redis, clients: clients)
        } catch {
            print(await cluster.status())
            for node in 1...3 { print("node-\(node) log:\n\(cluster.logTail(node: node))") }
            await ResumingClient.stopAll(clients)
            await redis.close()
            throw error
        }
        await ResumingClient.stopAll(clients)
        await redis.close()
        print("cluster test finished in \(ContinuousClock.now - started)")
    }

    // MARK: Clients

    /// 300 clients, `i` on account `i % 10` as user `(i / 10) % 3`; even ones on the account path, odd ones on `/ws`.
    private func connectClients(_ cluster: LocalCluster) async throws -> [ResumingClient] {
        var tokens: [String: String] = [:]
        for account in Self.accounts {
            for user in 0..<Self.usersPerAccount {
                tokens["\(account)/\(user)"] = try await cluster.token(account: account, user: "user-\(user)")
            }
        }
        let clients = (0..<Self.clientCount).map { index in
            let account = Self.accounts[index % Self.accounts.count]
            let user = (index / Self.accounts.count) % Self.usersPerAccount
            return ResumingClient(
                account: account, token: tokens["\(account)/\(user)"]!, viaAccountPath: index % 2 == 0,
                port: cluster.loadBalancerPort)
        }
        // 30 handshakes in flight at a time.
        do {
            for batch in stride(from: 0, to: clients.count, by: 30) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for client in clients[batch..<min(batch + 30, clients.count)] {
                        group.addTask { try await client.start() }
                    }
                    try await group.waitForAll()
                }
            }
        } catch {
            await ResumingClient.stopAll(clients)
            throw error
        }
        let perNode = Dictionary(grouping: clients, by: { $0.record.nodes.last ?? "?" }).mapValues(\.count)
        print("clients per node: \(perNode.sorted { $0.key < $1.key })")
        for node in ["node-1", "node-2", "node-3"] {
            #expect(perNode[node, default: 0] > 0, "no client landed on \(node): \(perNode)")
        }
        return clients
    }

    // MARK: Phase 1

    /// Per account, sequence 1…15 cycles through `PUBLISH` (live), `FCALL herald_publish` and the HTTP API
    /// through the load balancer; every client gets all 15 once, in order.
    private func phaseOne(cluster: LocalCluster, redis: ClusterRedis, clients: [ResumingClient]) async throws {
        // A node subscribes to an account's channel right after its first client of that account arrives;
        // live-only events reach only the nodes already subscribed, so wait for every subscription.
        for account in Self.accounts {
            let nodes = Set(clients.filter { $0.account == account }.compactMap { $0.record.nodes.last })
            let deadline = ContinuousClock.now + .seconds(15)
            while try await redis.subscriberCount(account: account) < nodes.count {
                guard ContinuousClock.now < deadline else { throw ClusterTestFailure("\(account): nodes \(nodes) never all subscribed") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for account in Self.accounts {
                group.addTask {
                    for seq in 1...Self.phaseOneEvents {
                        let json = ReceivedEvent.json(phase: 1, seq: seq)
                        switch seq % 3 {
                        case 1:
                            try await redis.publishLive(account: account, json)
                        case 2:
                            _ = try await redis.publishWithHistory(account: account, json)
                        default:
                            let body = #"{"account":"\#(account)","type":"\#(ReceivedEvent.type)","data":{"phase":1,"seq":\#(seq),"attempt":0}}"#
                            let response = try await cluster.publishThroughLoadBalancer(body)
                            guard response.status == 200 else { throw ClusterTestFailure("API publish: \(response.status) \(response.body)") }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await waitUntil("every client has the \(Self.phaseOneEvents) phase-1 events", timeout: .seconds(30)) {
            clients.allSatisfy { client in client.record.events.filter { $0.phase == 1 }.count >= Self.phaseOneEvents }
        }
        for (index, client) in clients.enumerated() {
            let seqs = client.record.events.filter { $0.phase == 1 }.map(\.seq)
            #expect(seqs == Array(1...Self.phaseOneEvents), "client \(index) (\(client.account)) phase 1: \(seqs)")
        }
    }

    // MARK: Phase 2

    /// History events through the HTTP API every 200 ms per account while node 1 drains and node 2 dies.
    private func phaseTwo(cluster: LocalCluster, redis: ClusterRedis, clients: [ResumingClient]) async throws {
        let publishers = Self.accounts.map { AccountPublisher(account: $0, cluster: cluster, interval: .milliseconds(200)) }
        let onNode = { (node: String) in clients.filter { $0.record.nodes.last == node }.count }
        let (drainedClients, killedClients) = (onNode("node-1"), onNode("node-2"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in publishers {
                group.addTask { try await publisher.run(phase: 2) }
            }
            group.addTask {
                defer { publishers.forEach { $0.stop() } }
                try await Task.sleep(for: .seconds(2))
                async let drained: Void = cluster.stopNode(1)
                try await Task.sleep(for: .milliseconds(1500))
                try await cluster.killNode(2)
                try await drained
                try await Task.sleep(for: .seconds(3))
            }
            try await group.waitForAll()
        }

        var histories: [String: [ReceivedEvent]] = [:]
        for account in Self.accounts { histories[account] = try await redis.history(account: account) }
        try await waitUntil("every client is connected and has every history event", timeout: .seconds(40)) {
            clients.allSatisfy { client in
                let record = client.record
                return record.isConnected && record.events.filter { $0.offset != nil }.count >= histories[client.account]!.count
            }
        }

        // What was published and acknowledged.
        for publisher in publishers {
            let history = histories[publisher.account]!
            let stored = Set(history.compactMap(\.offset))
            let acknowledged = publisher.acknowledgements
            // About 30 per account on an idle machine; fewer under load, but enough to cross the faults.
            #expect(acknowledged.count >= 10, "\(publisher.account): only \(acknowledged.count) events acknowledged")
            #expect(acknowledged.map(\.seq) == Array(1...max(1, acknowledged.count)), "\(publisher.account): acknowledged seqs")
            let missing = acknowledged.filter { !stored.contains($0.offset) }
            #expect(missing.isEmpty, "\(publisher.account): acknowledged but not in history: \(missing)")
        }
        // What every client received.
        let survivors = ["node-3"]
        for (index, client) in clients.enumerated() {
            let record = client.record
            let history = histories[client.account]!
            let received = record.events.filter { $0.offset != nil }
            #expect(received == history, "client \(index) (\(client.account)): \(received.count) history events, stream has \(history.count); first difference at \(Array(zip(received, history)).firstIndex(where: { $0 != $1 }).map(String.init) ?? "the end"); trace: \(record.trace.suffix(60).joined(separator: " | "))")
            #expect(record.isConnected && survivors.contains(record.nodes.last ?? ""), "client \(index) ends on \(record.nodes.last ?? "nothing")")
            #expect(record.recoveries.allSatisfy { $0.recovered }, "client \(index) recoveries: \(record.recoveries)")
            #expect(record.unexpected.isEmpty, "client \(index) unexpected frames: \(record.unexpected.prefix(3))")
            #expect(record.failure == nil, "client \(index): \(record.failure ?? "")")
        }
        let closes = clients.flatMap { $0.record.closes }
        let drainCloses = closes.filter { $0 == 1012 }.count
        let reconnects = clients.map { $0.record.nodes.count - 1 }.reduce(0, +)
        let retried = publishers.map(\.failures).reduce(0, +)
        let acknowledged = publishers.map { $0.acknowledgements.count }.reduce(0, +)
        print("phase 2: \(acknowledged) events acknowledged (\(retried) retried tries); clients on node-1 \(drainedClients), node-2 \(killedClients); \(drainCloses) closes with 1012, \(reconnects) reconnects")
        #expect(drainCloses >= drainedClients, "the drained node's \(drainedClients) clients should each get 1012; got \(drainCloses)")
        #expect(reconnects >= drainedClients + killedClients)
    }

    // MARK: Waiting

    private func waitUntil(_ what: String, timeout: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ClusterTestFailure("timed out after \(timeout): \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
