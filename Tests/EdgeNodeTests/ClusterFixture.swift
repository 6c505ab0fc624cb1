import EdgeNode
import Foundation
import HeraldBroker
import HeraldTestSupport
import Logging
import NIOCore
import NIOPosix
import PubSubBridge
import RedisBackend

/// A local Redis Cluster (3 primaries, 3 replicas) with in-process edge nodes on it, set up the way
/// `edge-node` sets itself up for `HERALD_REDIS_CLUSTER_NODES`, plus a cluster client that plays
/// the backend (`SPUBLISH`, `FCALL herald_publish`, reads of the history streams).
final class ClusterFixture: Sendable {
    let redis: RedisClusterProcess
    let nodes: [RunningNode]
    /// What a backend would use: a cluster client following redirections.
    let backend: RedisClusterCommandClient

    private init(redis: RedisClusterProcess, nodes: [RunningNode], backend: RedisClusterCommandClient) {
        self.redis = redis
        self.nodes = nodes
        self.backend = backend
    }

    /// Starts the cluster and `nodeCount` nodes, each ready (subscribers up on every primary).
    ///
    /// - Parameter durable: AOF with `appendfsync always` on every Redis node.
    static func start(nodes nodeCount: Int, durable: Bool = false, primaries: Int = 3, replicasPerPrimary: Int = 1) async throws -> ClusterFixture {
        let redis = try await RedisClusterProcess.start(primaries: primaries, replicasPerPrimary: replicasPerPrimary, durable: durable)
        var configuration = try RedisClusterConfiguration(nodes: redis.seeds)
        configuration.node.commandTimeout = .seconds(2)
        configuration.node.keepaliveInterval = .milliseconds(500)
        var logger = Logger(label: "test.cluster")
        logger.logLevel = ProcessInfo.processInfo.environment["HERALD_TEST_LOG"] == nil ? .critical : .debug
        let backend = RedisClusterCommandClient(configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        backend.start()
        var nodes: [RunningNode] = []
        do {
            for _ in 0..<nodeCount {
                nodes.append(try await RunningNode.launch(backend: Self.backend(configuration)) { $0.presenceTiming.refreshInterval = 1000 })
            }
        } catch {
            for node in nodes { await node.stop() }
            _ = try? await backend.shutdown().get()
            redis.stop()
            throw error
        }
        let fixture = ClusterFixture(redis: redis, nodes: nodes, backend: backend)
        try await fixture.waitUntil("the backend's cluster client knows every primary", timeout: .seconds(10)) { backend.isConnected }
        return fixture
    }

    /// What `edge-node` builds for a cluster: the sharded broker, presence on it, and the upstream
    /// split into 16 streams over the slots (waiting for one replica per publish, as by default).
    static func backend(_ configuration: RedisClusterConfiguration) -> NodeBackend.Factory {
        { context in
            let broker = RedisEventBroker(
                cluster: configuration, eventLoop: context.eventLoop, linger: .milliseconds(200), window: HistoryWindow(),
                replication: RedisReplicationWait(replicas: 1, timeout: .milliseconds(500)), logger: context.logger)
            let presence = RedisPresenceStore(
                client: broker.commands, timing: context.presenceTiming, logger: context.logger, deployment: .cluster)
            var backend = NodeBackend(broker: broker, presenceStore: presence, name: "redis-cluster")
            let streams = RedisClusterCommandClient(configuration: configuration, eventLoop: context.eventLoop, logger: context.logger)
            streams.start()
            backend.upstream = RedisUpstreamStream(client: streams, key: UpstreamStreamKey(shards: 16), caps: StreamCaps(), logger: context.logger)
            return backend
        }
    }

    func stop() async {
        for node in nodes { await node.stop() }
        _ = try? await backend.shutdown().get()
        redis.stop()
    }

    // MARK: Accounts

    /// `count` account names per primary (shards sorted by port), each hashing to a slot of that
    /// primary (and within `slots`, when given).
    func accounts(perShard count: Int, prefix: String, within slots: ClosedRange<Int>? = nil) async throws -> [[String]] {
        let shards = try await redis.shards()
        var result = shards.map { _ in [String]() }
        for index in 0..<200_000 where result.contains(where: { $0.count < count }) {
            let account = "\(prefix)-\(index)"
            let slot = RedisHashSlot.of(AccountChannel.name(for: account))
            if let slots, !slots.contains(slot) { continue }
            guard let shard = shards.firstIndex(where: { $0.serves(slot: slot) }), result[shard].count < count else { continue }
            result[shard].append(account)
        }
        return result
    }

    // MARK: Backend side

    /// `PUBSUB SHARDNUMSUB herald:{account}` on the account's primary: how many nodes subscribe there.
    func subscribers(account: String) async throws -> Int {
        let channel = AccountChannel.name(for: account)
        let reply = try await backend.send(key: channel, "PUBSUB", "SHARDNUMSUB", channel).get()
        return reply.array.flatMap { $0.count == 2 ? $0[1].int : nil }.map(Int.init) ?? 0
    }

    /// Waits until `count` nodes subscribe to the account's channel on its primary.
    func waitForSubscribers(_ accounts: [String], count: Int) async throws {
        try await waitUntil("\(count) nodes subscribe to \(accounts.count) accounts", timeout: .seconds(15)) {
            for account in accounts where try await self.subscribers(account: account) != count { return false }
            return true
        }
    }

    /// `SPUBLISH herald:{account} <json>`, as `redis-cli -c SPUBLISH` does: live only.
    func publishLive(account: String, _ json: String) async throws {
        let channel = AccountChannel.name(for: account)
        let reply = try await backend.send(key: channel, "SPUBLISH", channel, json).get()
        guard reply.int != nil else { throw TestFailure("SPUBLISH answered \(reply)") }
    }

    /// `FCALL herald_publish` with the channel alone, or (`allKeys`) with the channel, log and epoch keys.
    func publishWithHistory(account: String, _ json: String, allKeys: Bool) async throws -> String {
        let channel = AccountChannel.name(for: account)
        let keys = allKeys ? ["3", channel, channel + ":log", channel + ":epoch"] : ["1", channel]
        let reply = try await backend.send((["FCALL", "herald_publish"] + keys + [json]).map { ByteBuffer(string: $0) }, key: channel).get()
        guard let offset = reply.string, offset.contains(":") else { throw TestFailure("FCALL herald_publish answered \(reply)") }
        return offset
    }

    /// The offsets of the account's history stream, oldest first.
    func historyOffsets(account: String) async throws -> [String] {
        let channel = AccountChannel.name(for: account)
        let reply = try await backend.send(key: channel, "XRANGE", channel + ":log", "-", "+").get()
        guard let entries = reply.array else { throw TestFailure("XRANGE answered \(reply)") }
        return try entries.map { entry in
            guard let fields = entry.array?.last?.array, fields.count == 2, let text = fields[1].string,
                let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
                let offset = json["offset"] as? String
            else { throw TestFailure("unexpected history entry \(entry)") }
            return offset
        }
    }

    // MARK: Waiting

    func waitUntil(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("timed out after \(timeout): \(what)")
    }
}
