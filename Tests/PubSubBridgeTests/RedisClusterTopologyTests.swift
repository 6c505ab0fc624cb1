import NIOCore
import Testing

@testable import PubSubBridge
@testable import RedisBackend

/// The cluster pieces that are plain values: hash slots, topology replies, redirections, seed lists.
@Suite("Redis Cluster values")
struct RedisClusterTopologyTests {
    /// Slots Redis 7.0.15 computed with `CLUSTER KEYSLOT` for these keys.
    static let knownSlots: [(String, Int)] = [
        ("herald:{42}", 8000), ("", 0), ("a", 15495), ("foo", 12182), ("herald:{acct-0}", 11673),
        ("{user1000}.following", 3443), ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061),
        ("123456789", 12739), ("herald:upstream:{0}", 13907), ("herald:upstream:{1}", 9842), ("herald:upstream:{2}", 5649),
        ("héllo", 11061),
    ]

    @Test("CRC16/XMODEM slots match CLUSTER KEYSLOT")
    func slotsMatchRedis() {
        for (key, slot) in Self.knownSlots {
            #expect(RedisHashSlot.of(key) == slot, "slot of \(key)")
        }
        // An account's channel and keys share its slot.
        #expect(RedisHashSlot.of("herald:{42}:log") == 8000)
        #expect(RedisHashSlot.of("herald:{42}:presence:users") == 8000)
    }

    private static func node(_ port: Int, role: String, health: String = "online", endpoint: String = "127.0.0.1") -> RESPValue {
        let fields: [RESPValue] = [
            "id", .bulkString(ByteBuffer(string: "id-\(port)")), "port", .integer(Int64(port)), "ip", "127.0.0.1",
            "endpoint", .bulkString(ByteBuffer(string: endpoint)), "role", .bulkString(ByteBuffer(string: role)),
            "replication-offset", .integer(56), "health", .bulkString(ByteBuffer(string: health)),
        ]
        return .array(fields)
    }

    private static func shard(_ slots: [Int64], _ nodes: [RESPValue]) -> RESPValue {
        .array(["slots", .array(slots.map { .integer($0) }), "nodes", .array(nodes)])
    }

    /// What `CLUSTER SHARDS` answered after the primary on 17001 was killed and 17005 promoted, and slot
    /// 8000 was moved to 17003.
    static let shardsReply = RESPValue.array([
        shard([8000, 8000, 10923, 16383], [node(17003, role: "master"), node(17004, role: "replica")]),
        shard([0, 5460], [node(17005, role: "master")]),
        shard([], [node(17001, role: "master", health: "fail")]),
        shard([5461, 7999, 8001, 10922], [node(17006, role: "replica", health: "loading"), node(17002, role: "master")]),
    ])

    @Test("CLUSTER SHARDS: primaries by slot, failed primaries left out")
    func shardsReply() throws {
        let connected = RedisClusterEndpoint(host: "127.0.0.1", port: 17002)
        let topology = try RedisClusterTopology(shardsReply: Self.shardsReply, connectedTo: connected)
        let endpoint = { (port: Int) in RedisClusterEndpoint(host: "127.0.0.1", port: port) }
        #expect(topology.primaries == [endpoint(17002), endpoint(17003), endpoint(17005)])
        #expect(topology.primary(forSlot: 0) == endpoint(17005))
        #expect(topology.primary(forSlot: 5460) == endpoint(17005))
        #expect(topology.primary(forSlot: 7999) == endpoint(17002))
        #expect(topology.primary(forSlot: 8000) == endpoint(17003))
        #expect(topology.primary(forSlot: 8001) == endpoint(17002))
        #expect(topology.primary(forSlot: 16383) == endpoint(17003))
        #expect(topology.unservedSlots == 0)
        #expect(topology.shard(forSlot: 8000)?.replicas == [endpoint(17004)])
        #expect(topology.shard(forSlot: 6000)?.replicas == [endpoint(17006)], "a replica reports `loading` until it has seen a write")
        #expect(topology.shard(forSlot: 8000)?.slots == [8000...8000, 10923...16383])
    }

    @Test("CLUSTER SLOTS: the fallback for servers without CLUSTER SHARDS")
    func slotsReply() throws {
        let entry = { (low: Int64, high: Int64, ports: [Int64]) -> RESPValue in
            .array([.integer(low), .integer(high)] + ports.map { .array(["127.0.0.1", .integer($0), "some-id"]) })
        }
        let reply = RESPValue.array([entry(0, 5460, [7000, 7003]), entry(5461, 10922, [7001]), entry(10923, 16383, [7002, 7004])])
        let topology = try RedisClusterTopology(slotsReply: reply, connectedTo: RedisClusterEndpoint(host: "10.0.0.1", port: 7000))
        #expect(topology.primaries.map(\.port) == [7000, 7001, 7002])
        #expect(topology.primary(forSlot: 5461)?.port == 7001)
        #expect(topology.shard(forSlot: 0)?.replicas.map(\.port) == [7003])
        #expect(throws: RedisError.self) { try RedisClusterTopology(slotsReply: .integer(1), connectedTo: RedisClusterEndpoint(host: "h", port: 1)) }
    }

    @Test("MOVED moves one slot, to a known primary or a new one")
    func moved() throws {
        let a = RedisClusterEndpoint(host: "127.0.0.1", port: 1)
        let b = RedisClusterEndpoint(host: "127.0.0.1", port: 2)
        let c = RedisClusterEndpoint(host: "127.0.0.1", port: 3)
        let topology = RedisClusterTopology(shards: [.init(primary: a, slots: [0...8191]), .init(primary: b, slots: [8192...16383])])
        let moved = topology.moving(slot: 100, to: b)
        #expect(moved.primary(forSlot: 100) == b)
        #expect(moved.shard(forSlot: 0)?.slots == [0...99, 101...8191])
        #expect(moved.shard(forSlot: 8192)?.slots == [100...100, 8192...16383])
        let added = moved.moving(slot: 0, to: c)
        #expect(added.primaries == [a, b, c])
        #expect(added.primary(forSlot: 0) == c)
        #expect(topology.moving(slot: 100, to: a) == topology)
    }

    @Test("redirections are read from error replies")
    func redirects() {
        let endpoint = RedisClusterEndpoint(host: "127.0.0.1", port: 17003)
        #expect(RedisClusterRedirect(message: "MOVED 8000 127.0.0.1:17003") == .moved(slot: 8000, to: endpoint))
        #expect(RedisClusterRedirect(message: "ASK 8000 127.0.0.1:17003") == .ask(slot: 8000, to: endpoint))
        #expect(RedisClusterRedirect(message: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(RedisClusterRedirect(message: "CLUSTERDOWN The cluster is down") == .clusterDown)
        #expect(RedisClusterRedirect(message: "MOVED 99999 127.0.0.1:1") == nil)
        #expect(RedisClusterRedirect(message: "ERR unknown command") == nil)
        #expect(RedisClusterRedirect(RedisError.serverError("MOVED 1 [::1]:7000")) == .moved(slot: 1, to: RedisClusterEndpoint(host: "::1", port: 7000)))
        #expect(RedisClusterRedirect(RedisError.notConnected) == nil)
    }

    @Test("seed lists, with and without credentials")
    func seeds() throws {
        let plain = try RedisClusterConfiguration(nodes: "127.0.0.1:7000, 127.0.0.1:7001,127.0.0.1:7000")
        #expect(plain.seeds.map(\.description) == ["127.0.0.1:7000", "127.0.0.1:7001"])
        #expect(plain.node.password == nil)
        let secret = try RedisClusterConfiguration(nodes: "redis://herald:p%40ss,w@rd@redis-a:6379,[::1]:6380")
        #expect(secret.node.username == "herald")
        #expect(secret.node.password == "p@ss,w@rd")
        #expect(secret.seeds.map(\.description) == ["redis-a:6379", "[::1]:6380"])
        for bad in ["", "127.0.0.1", "127.0.0.1:0", "a:1,,b:2", "rediss://h:1", "h:1/0", "redis://u:%zz@h:1"] {
            #expect(throws: RedisConfigurationError.self, "\(bad)") { try RedisClusterConfiguration(nodes: bad) }
        }
        do {
            _ = try RedisClusterConfiguration(nodes: "redis://u:topsecret@h")
            Issue.record("a node without a port was accepted")
        } catch {
            #expect(!"\(error)".contains("topsecret"))
            #expect(error.code == .invalidClusterNodes)
        }
    }

    @Test("sharded pushes read like classic ones")
    func shardedPushes() {
        let message = RESPValue.array(["smessage", "herald:{42}", .bulkString(ByteBuffer(string: "{}"))])
        #expect(RedisPubSubPush(message) == .message(channel: "herald:{42}", payload: ByteBuffer(string: "{}")))
        #expect(RedisPubSubPush(.array(["ssubscribe", "herald:{42}", .integer(1)])) == .subscribed(channel: "herald:{42}", count: 1))
        #expect(RedisPubSubPush(.array(["sunsubscribe", "herald:{42}", .integer(0)])) == .unsubscribed(channel: "herald:{42}", count: 0))
    }

    @Test("an SSUBSCRIBE names one slot's channels only")
    func shardedBatches() {
        let channels = ["herald:{42}", "herald:{acct-0}", "herald:{42}:x", "a"]
        let commands = RedisSubscriber.Kind.sharded.commands(for: [channels])
        #expect(commands.count == 3)
        for command in commands { #expect(Set(command.map(RedisHashSlot.of)).count == 1) }
        #expect(Set(commands.joined()) == Set(channels))
        #expect(RedisSubscriber.Kind.classic.commands(for: [channels]) == [channels])
    }

    @Test("a channel Redis drops on its own is told apart from one the client unsubscribed")
    func droppedChannels() {
        var machine = SubscriptionStateMachine()
        _ = machine.connected()
        #expect(machine.retain(channel: "a") == .subscribe(["a"]))
        #expect(machine.subscribeConfirmed(channel: "a") == .none)
        let dropped = machine.unsubscribeConfirmed(channel: "a")
        #expect(dropped, "still wanted: Redis dropped it")
        #expect(machine.forget(channel: "a") == .none)
        #expect(machine.interestedChannels.isEmpty)
        #expect(machine.retain(channel: "b") == .subscribe(["b"]))
        _ = machine.release(channel: "b")
        #expect(machine.lingerExpired(channel: "b", token: 1) == .unsubscribe(["b"]))
        let droppedAfterAsking = machine.unsubscribeConfirmed(channel: "b")
        #expect(!droppedAfterAsking, "asked for")
    }

    @Test("forgetting the last awaited channel completes a resubscribe")
    func forgetDuringResubscribe() {
        var machine = SubscriptionStateMachine()
        _ = machine.retain(channel: "a")
        _ = machine.retain(channel: "b")
        #expect(machine.connected() == .resubscribe([["a", "b"]]))
        #expect(machine.subscribeConfirmed(channel: "a") == .none)
        #expect(machine.forget(channel: "b") == .reportConnected)
        #expect(machine.isReady)
    }

    @Test("a sunsubscribe Redis sends on its own does not answer a pending SSUBSCRIBE")
    func unsolicitedSunsubscribe() {
        var machine = RedisConnectionStateMachine<Int>()
        let now = NIODeadline.uptimeNanoseconds(0)
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["herald:{1}"], now: now)
        _ = machine.receive(.array(["ssubscribe", "herald:{1}", .integer(1)]), now: now)
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["herald:{2}"], now: now)
        guard case .push = machine.receive(.array(["sunsubscribe", "herald:{1}", .integer(0)]), now: now) else {
            Issue.record("the dropped channel must reach the subscriber")
            return
        }
        // The SSUBSCRIBE of herald:{2} still waits: a MOVED now is its refusal.
        guard case .subscriptionRefused(let channels, _) = machine.receive(.error("MOVED 1 127.0.0.1:2"), now: now) else {
            Issue.record("the error answers the SSUBSCRIBE still waiting")
            return
        }
        #expect(channels == ["herald:{2}"])
    }

    @Test("the cluster variants of the function libraries publish with SPUBLISH")
    func libraries() {
        let standalone = HeraldFunctionLibrary(window: .init())
        let cluster = HeraldFunctionLibrary(window: .init(), deployment: .cluster)
        #expect(cluster.version == standalone.version + ";sharded")
        #expect(cluster.source.contains("local PUBLISH = 'SPUBLISH'"))
        #expect(standalone.source.contains("local PUBLISH = 'PUBLISH'"))
        #expect(!cluster.source.contains("@"))
        let presence = PresenceFunctionLibrary(deployment: .cluster)
        #expect(presence.version == "\(PresenceFunctionLibrary.revision);sharded")
        #expect(presence.source.contains("local PUBLISH = 'SPUBLISH'"))
        #expect(RedisDeployment.cluster.functionKeys(channel: "herald:{a}", suffixes: [":log", ":epoch"])
            == ["3", "herald:{a}", "herald:{a}:log", "herald:{a}:epoch"])
        #expect(RedisDeployment.standalone.functionKeys(channel: "herald:{a}", suffixes: [":log"]) == ["1", "herald:{a}"])
    }

    @Test("upstream streams split 16 ways land on every primary of a 3-way cluster")
    func upstreamSpread() {
        let key = UpstreamStreamKey(shards: 16)
        // redis-cli --cluster create splits the slots 0-5460, 5461-10922, 10923-16383.
        let primaries = Set(key.all.map { RedisHashSlot.of($0) }.map { $0 <= 5460 ? 0 : $0 <= 10922 ? 1 : 2 })
        #expect(primaries == [0, 1, 2])
    }
}

extension RESPValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        self = .bulkString(ByteBuffer(string: value))
    }
}
