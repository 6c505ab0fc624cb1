import Foundation
import HeraldBroker
import HeraldProtocol
import HeraldTestSupport
import PubSubBridge
import Testing

/// Two edge nodes on one real redis-server: every publish reaches every connection of the
/// account on both nodes exactly once, and nothing else.
@Suite("Fan-out across nodes through Redis", .serialized)
struct FanOutIntegrationTests {
    @Test("redis PUBLISH and the HTTP API reach both nodes once; targeting by user and channel")
    func twoNodes() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodeA = try await RunningNode.start(redisURL: redis.url)
        let nodeB = try await RunningNode.start(redisURL: redis.url)
        let probe = try await RedisProbe.connect(redis)

        let aliceOnA = try await nodeA.connect(token: try await Fixture.token(user: "alice"))
        let bobOnB = try await nodeB.connect(token: try await Fixture.token(user: "bob", channels: ["inbox"]))
        let aliceOnB = try await nodeB.connect(token: try await Fixture.token(user: "alice"))
        let carolOf43 = try await nodeA.connect(token: try await Fixture.token(account: "43", user: "carol"))
        try await probe.waitForSubscribers(account: "42", count: 2)
        let everyone42 = [aliceOnA, bobOnB, aliceOnB]

        // Raw PUBLISH, as redis-cli does.
        #expect(try await probe.publish(account: "42", #"{"type":"message.new","data":{"id":1}}"#) == 2)
        for client in everyone42 {
            let events = await client.drainJSON()
            #expect(events.count == 1)
            #expect(events.first?["type"] as? String == "message.new")
            #expect((events.first?["data"] as? [String: Any])?["id"] as? Int == 1)
        }

        // HTTP API on node B reaches node A's clients too.
        let response = try await nodeB.publish(#"{"account":"42","type":"kpi.update","data":{"v":7}}"#)
        #expect(response.status == 200)
        #expect((response.json?["offset"] as? String).flatMap(StreamOffset.init) != nil)
        for client in everyone42 {
            let events = await client.drainJSON()
            #expect(events.map { $0["type"] as? String } == ["kpi.update"])
        }

        // Targeted at alice: both of her tabs, on both nodes; not bob.
        _ = try await probe.publish(account: "42", #"{"type":"note","user":"alice"}"#)
        #expect(await aliceOnA.drainJSON().count == 1)
        #expect(await aliceOnB.drainJSON().count == 1)
        #expect(await bobOnB.drainJSON().isEmpty)

        // Sub-channel: only subscribers.
        try await bobOnB.sendText(#"{"type":"subscribe","channel":"inbox","id":"s1"}"#)
        let ack = try await bobOnB.next()
        #expect(ack["type"] as? String == "ack")
        #expect(ack["ref"] as? String == "s1")
        _ = try await nodeA.publish(#"{"account":"42","type":"inbox.new","channel":"inbox"}"#)
        let inbox = await bobOnB.drainJSON()
        #expect(inbox.map { $0["type"] as? String } == ["inbox.new"])
        #expect(inbox.first?["channel"] as? String == "inbox")
        #expect(await aliceOnA.drainJSON().isEmpty)
        #expect(await aliceOnB.drainJSON().isEmpty)

        // Account 43 saw none of it.
        #expect(await carolOf43.drainJSON().isEmpty)

        // Order: 50 events in a row arrive in publish order on both nodes.
        for sequence in 0..<50 {
            _ = try await probe.publish(account: "42", #"{"type":"seq","n":\#(sequence)}"#)
        }
        for client in [aliceOnA, bobOnB] {
            let numbers = await client.drainJSON().compactMap { $0["n"] as? Int }
            #expect(numbers == Array(0..<50))
        }

        // The last connection of an account leaving unsubscribes the node (after the linger).
        await carolOf43.close()
        try await probe.waitForSubscribers(account: "43", count: 0)

        for client in everyone42 { await client.close() }
        await probe.close()
        await nodeA.stop()
        await nodeB.stop()
    }

    @Test("Redis killed and restarted: clients stay connected and receive later events")
    func redisRestart() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let client = try await node.connect(token: try await Fixture.token())
        var probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        await probe.close()

        redis.kill()
        // Readiness reports the outage.
        var sawNotReady = false
        for _ in 0..<100 where !sawNotReady {
            sawNotReady = (try? await TestHTTPClient.request(.GET, port: node.port, path: "/readyz"))?.status == 503
            if !sawNotReady { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(sawNotReady)
        let publishDuringOutage = try await node.publish(#"{"account":"42","type":"lost"}"#)
        #expect(publishDuringOutage.status == 503)
        #expect(publishDuringOutage.json?["error"] as? String == "unavailable")

        try await redis.restart()
        try await node.waitUntilReady()
        probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        _ = try await probe.publish(account: "42", #"{"type":"after.restart"}"#)
        let events = await client.drainJSON()
        // Redis came back without its data: the history the client was owed since connecting is
        // gone, and it is told so before later events flow.
        #expect(events.map { $0["type"] as? String } == ["recovery", "after.restart"])
        #expect(events.first?["recovered"] as? Bool == false)
        #expect(events.first?["reason"] as? String == "history_lost")
        #expect(!client.isClosed)

        await client.close()
        await probe.close()
        await node.stop()
    }

    @Test("a slow consumer is closed when its buffer fills while others get every event")
    func slowConsumer() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url) { $0.outboundBufferBytes = 64 * 1024 }
        let slow = try await node.connect(token: try await Fixture.token(user: "slow"), receiveBufferSize: 4096)
        let fast = try await node.connect(token: try await Fixture.token(user: "fast"))
        let probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        await slow.stopReading()

        let padding = String(repeating: "x", count: 8 * 1024)
        let total = 2000  // 16 MiB: far past kernel buffers plus the 64 KiB outbound limit
        var received: [Int] = []
        for sequence in 0..<total {
            _ = try await probe.publish(account: "42", #"{"type":"bulk","n":\#(sequence),"pad":"\#(padding)"}"#)
            if sequence % 100 == 99 {
                received += await fast.drain(quiet: .milliseconds(1)).compactMap { $0.json?["n"] as? Int }
            }
        }
        received += await fast.drainJSON(quiet: .milliseconds(500)).compactMap { $0["n"] as? Int }
        #expect(received == Array(0..<total))

        let metrics = try await TestHTTPClient.request(.GET, port: node.port, path: "/metrics")
        #expect(metrics.body.contains("herald_slow_consumer_closes_total 1"))
        await slow.resumeReading()
        let code = try await slow.waitForClose(timeout: .seconds(10))
        #expect(code == nil || code == 4001)

        await fast.close()
        await probe.close()
        await node.stop()
    }
}
