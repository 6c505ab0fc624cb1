import Foundation
import HeraldBroker
import HeraldProtocol
import HeraldTestSupport
import PubSubBridge
import Testing

/// History and recovery over real sockets and a real redis-server: nothing stored in history is
/// lost across client reconnects or the node's own Redis reconnects, and what cannot be recovered
/// is said so.
@Suite("History and recovery", .serialized)
struct HistoryRecoveryTests {
    private func publish(_ node: RunningNode, _ sequence: Int, account: String = "42") async throws -> String {
        let response = try await node.publish(#"{"account":"\#(account)","type":"seq","data":{"n":\#(sequence)}}"#)
        guard response.status == 200, let offset = response.json?["offset"] as? String else {
            throw TestFailure("publish answered \(response.status) \(response.body)")
        }
        return offset
    }

    private func sequenceNumbers(_ events: [[String: Any]]) -> [Int] {
        events.compactMap { ($0["data"] as? [String: Any])?["n"] as? Int }
    }

    /// Reads until the `recovery` frame; returns the replayed events before it and the frame.
    private func recover(_ client: TestWebSocketClient) async throws -> (events: [[String: Any]], recovery: [String: Any]) {
        var events: [[String: Any]] = []
        for _ in 0..<5000 {
            let message = try await client.next()
            if message["type"] as? String == "recovery" { return (events, message) }
            events.append(message)
        }
        throw TestFailure("no recovery frame")
    }

    @Test("a client that missed 50 events gets exactly those, in order, then live ones; also on another node")
    func clientRecovery() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodeA = try await RunningNode.start(redisURL: redis.url)
        let nodeB = try await RunningNode.start(redisURL: redis.url)
        let token = try await Fixture.token()

        let first = try await TestWebSocketClient.connect(port: nodeA.port, path: "/ws?token=\(token)")
        let connected = try await first.next()
        #expect((connected["offset"] as? String).flatMap(StreamOffset.init) != nil)
        let probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        _ = try await publish(nodeA, -1)
        let seen = try await first.next()
        let lastOffset = try #require(seen["offset"] as? String)
        await first.close()

        for sequence in 0..<50 { _ = try await publish(nodeB, sequence) }

        // Same node, ?since= on connect.
        let again = try await nodeA.connect(token: token, path: "/ws?token=\(token)&since=\(lastOffset)")
        var (events, recovery) = try await recover(again)
        #expect(sequenceNumbers(events) == Array(0..<50))
        #expect(recovery["recovered"] as? Bool == true)
        #expect(recovery["count"] as? Int == 50)
        try await probe.waitForSubscribers(account: "42", count: 1)
        _ = try await publish(nodeB, 50)
        #expect(sequenceNumbers(await again.drainJSON()) == [50])

        // Another node, with a resume message.
        let elsewhere = try await nodeB.connect(token: token)
        try await elsewhere.sendText(#"{"type":"resume","since":"\#(lastOffset)"}"#)
        (events, recovery) = try await recover(elsewhere)
        #expect(sequenceNumbers(events) == Array(0..<51))
        #expect(recovery["recovered"] as? Bool == true)
        #expect(await elsewhere.drainJSON().isEmpty)

        // Live-only publishes carry no offset and still arrive.
        let live = try await nodeA.publish(#"{"account":"42","type":"live","history":false}"#)
        #expect(live.json?["offset"] is NSNull)
        #expect(await again.drainJSON().map { $0["type"] as? String } == ["live"])

        await again.close()
        await elsewhere.close()
        await probe.close()
        await nodeA.stop()
        await nodeB.stop()
    }

    @Test("events published during the replay arrive once, after it, in order (embedded broker)")
    func replaySeam() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token()
        let watcher = try await node.connect(token: try await Fixture.token(user: "watcher"))
        let base = try await publish(node, -1)
        for sequence in 0..<300 { _ = try await publish(node, sequence) }
        let client = try await node.connect(token: token, path: "/ws?token=\(token)&since=\(base)")
        let concurrent = Task { for sequence in 300..<400 { _ = try await publish(node, sequence) } }
        let (events, recovery) = try await recover(client)
        try await concurrent.value
        let after = await client.drainJSON()
        #expect(sequenceNumbers(events) + sequenceNumbers(after) == Array(0..<400))
        #expect(recovery["recovered"] as? Bool == true)
        #expect(sequenceNumbers(await watcher.drainJSON()) == [-1] + Array(0..<400))
        await node.stop()
    }

    @Test("bad, old, future and foreign offsets get recovered:false with a reason")
    func unrecoverableOffsets() async throws {
        let redis = try await RedisServerProcess.start(extraArguments: ["--stream-node-max-entries", "5"])
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url, window: HistoryWindow(maxEvents: 10)) { $0.resumeInterval = .zero }
        let token = try await Fixture.token()
        let client = try await node.connect(token: token)
        let probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        let oldest = try await publish(node, 0)
        for sequence in 1..<50 { _ = try await publish(node, sequence) }
        _ = await client.drainJSON()
        let current = try #require(StreamOffset(oldest))

        let cases: [(String, String)] = [
            ("not-an-offset", "invalid_offset"),
            ("ABC:1-0", "invalid_offset"),
            (oldest, "out_of_window"),
            (StreamOffset(epoch: current.epoch, milliseconds: current.milliseconds + 86_400_000, sequence: 0).description, "out_of_window"),
            (StreamOffset(epoch: "zzzzzz", milliseconds: current.milliseconds, sequence: 0).description, "out_of_window"),
        ]
        for (since, reason) in cases {
            try await client.sendText(#"{"type":"resume","since":"\#(since)"}"#)
            let answer = try await client.next()
            #expect(answer["type"] as? String == "recovery", "\(since)")
            #expect(answer["recovered"] as? Bool == false, "\(since)")
            #expect(answer["reason"] as? String == reason, "\(since)")
        }
        try await client.sendText(#"{"type":"resume","id":1}"#)
        #expect(try await client.next()["code"] as? String == "malformed_message")

        // A recent offset inside the window still recovers.
        let recent = try await publish(node, 50)
        _ = try await publish(node, 51)
        _ = await client.drainJSON()
        try await client.sendText(#"{"type":"resume","since":"\#(recent)"}"#)
        let (events, recovery) = try await recover(client)
        #expect(sequenceNumbers(events) == [51])
        #expect(recovery["recovered"] as? Bool == true)

        await client.close()
        await probe.close()
        await node.stop()
    }

    @Test("pub/sub connections killed by Redis while publishing: every event reaches every client once, in order")
    func pubsubKill() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodes = [try await RunningNode.start(redisURL: redis.url), try await RunningNode.start(redisURL: redis.url)]
        var clients: [TestWebSocketClient] = []
        for (index, node) in nodes.enumerated() {
            for user in 0..<3 { clients.append(try await node.connect(token: try await Fixture.token(user: "u\(index)-\(user)"))) }
        }
        let probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 2)
        for sequence in 0..<300 {
            _ = try await probe.connection.send("FCALL", "herald_publish", "1", "herald:{42}", #"{"type":"seq","data":{"n":\#(sequence)}}"#).get()
            if sequence % 60 == 30 {
                _ = try await probe.connection.send("CLIENT", "KILL", "TYPE", "pubsub").get()
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        for client in clients {
            #expect(sequenceNumbers(await client.drainJSON(quiet: .seconds(2))) == Array(0..<300))
        }
        await probe.close()
        for node in nodes { await node.stop() }
    }

    @Test("Redis restarted with appendfsync always: every acknowledged event reaches every client once, in order")
    func durableRestart() async throws {
        let redis = try await RedisServerProcess.start(extraArguments: ["--appendonly", "yes", "--appendfsync", "always"])
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let clients = [try await node.connect(token: try await Fixture.token(user: "a")), try await node.connect(token: try await Fixture.token(user: "b"))]
        var probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)

        var acknowledged: [Int] = []
        for sequence in 0..<400 {
            if sequence == 150 { redis.kill() }
            if sequence == 200 { try await redis.restart() }
            for _ in 0..<100 {
                do {
                    _ = try await probe.connection.send("FCALL", "herald_publish", "1", "herald:{42}", #"{"type":"seq","data":{"n":\#(sequence)}}"#).get()
                    acknowledged.append(sequence)
                    break
                } catch {
                    if sequence < 200 { break }  // Redis is down: this one is not acknowledged
                    probe = (try? await RedisProbe.connect(redis)) ?? probe
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        #expect(acknowledged.count > 300)
        for client in clients {
            let numbers = sequenceNumbers(await client.drainJSON(quiet: .seconds(2)))
            #expect(Set(acknowledged).isSubset(of: Set(numbers)))
            #expect(numbers == numbers.sorted() && Set(numbers).count == numbers.count)
            #expect(!client.isClosed)
        }
        await probe.close()
        await node.stop()
    }

    @Test("Redis restarted without persistence: connected clients are told recovered:false")
    func lostHistory() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let client = try await node.connect(token: try await Fixture.token())
        var probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        _ = try await publish(node, 0)
        #expect(sequenceNumbers(await client.drainJSON()) == [0])
        await probe.close()

        redis.kill()
        try await redis.restart()
        try await node.waitUntilReady()
        var gap: [String: Any]?
        for _ in 0..<50 where gap == nil {
            gap = await client.drainJSON(quiet: .milliseconds(200)).first { $0["type"] as? String == "recovery" }
        }
        #expect(gap?["recovered"] as? Bool == false)
        #expect(gap?["reason"] as? String == "history_lost")
        probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        _ = try await publish(node, 1)
        #expect(sequenceNumbers(await client.drainJSON()) == [1])
        await probe.close()
        await node.stop()
    }
}
