import Foundation
import HeraldProtocol
import HeraldTestSupport
import PubSubBridge
import Testing

/// The cases where recovery used to fail silently: an outage on an account the node had not yet
/// delivered to, and sub-channels subscribed after a reconnect's replay. Real redis-server, real
/// sockets; every client either gets each event it is owed once, in order, or is told it cannot.
@Suite("No silent loss", .serialized)
struct NoSilentLossTests {
    private func fcall(_ probe: RedisProbe, account: String, _ json: String) async throws -> String {
        let reply = try await probe.connection.send("FCALL", "herald_publish", "1", "herald:{\(account)}", json).get()
        guard let offset = reply.string else { throw TestFailure("herald_publish answered \(reply)") }
        return offset
    }

    private func numbers(_ events: [[String: Any]], type: String? = nil) -> [Int] {
        events.filter { type == nil || $0["type"] as? String == type }.compactMap { ($0["data"] as? [String: Any])?["n"] as? Int }
    }

    @Test("pub/sub link killed on a freshly subscribed account: the node still delivers what was published meanwhile")
    func outageOnColdAccount() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let probe = try await RedisProbe.connect(redis)
        for (round, account) in ["cold1", "cold2"].enumerated() {
            let client = try await node.connect(token: try await Fixture.token(account: account))
            if round == 0 { try await probe.waitForSubscribers(account: account, count: 1) }
            // Round 1 kills the link before the subscription may even be confirmed.
            _ = try await probe.connection.send("CLIENT", "KILL", "TYPE", "pubsub").get()
            for sequence in 0..<10 { _ = try await fcall(probe, account: account, #"{"type":"seq","data":{"n":\#(sequence)}}"#) }
            var received: [Int] = []
            for _ in 0..<50 where received.count < 10 {
                received += numbers(await client.drainJSON(quiet: .milliseconds(200)))
            }
            #expect(received == Array(0..<10), "account \(account)")
            #expect(!client.isClosed)
            await client.close()
        }
        await probe.close()
        await node.stop()
    }

    @Test("a fresh account on the embedded broker gets events published right after connecting")
    func coldAccountEmbedded() async throws {
        let node = try await RunningNode.start()
        for round in 0..<20 {
            let account = "e\(round)"
            let client = try await node.connect(token: try await Fixture.token(account: account))
            for sequence in 0..<3 { _ = try await node.publish(#"{"account":"\#(account)","type":"seq","data":{"n":\#(sequence)}}"#) }
            #expect(numbers(await client.drainJSON(quiet: .milliseconds(150))) == [0, 1, 2])
            await client.close()
        }
        await node.stop()
    }

    /// Connects, receives one `inbox` event, disconnects; then 5 `inbox` and 3 broadcast events
    /// are published. Returns the offset to resume from.
    private func missInboxEvents(_ node: RunningNode, token: String) async throws -> String {
        let first = try await node.connect(token: token, path: "/ws?token=\(token)&channels=inbox")
        let probe = try await node.publish(#"{"account":"42","type":"seq","channel":"inbox","data":{"n":-1}}"#)
        #expect(probe.status == 200)
        let seen = try await first.next()
        let offset = try #require(seen["offset"] as? String)
        await first.close()
        for sequence in 0..<5 {
            _ = try await node.publish(#"{"account":"42","type":"seq","channel":"inbox","data":{"n":\#(sequence)}}"#)
            if sequence < 3 { _ = try await node.publish(#"{"account":"42","type":"all","data":{"n":\#(100 + sequence)}}"#) }
        }
        return offset
    }

    @Test("reconnect with ?since=, subscribe after connected: the missed inbox events arrive, or recovered:false")
    func subscribeAfterConnectedOnResume() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let token = try await Fixture.token(channels: ["inbox"])
        let offset = try await missInboxEvents(node, token: token)

        let again = try await node.connect(token: token, path: "/ws?token=\(token)&since=\(offset)")
        try await again.sendText(#"{"type":"subscribe","channel":"inbox","id":1}"#)
        let messages = await again.drainJSON(quiet: .milliseconds(500))
        #expect(numbers(messages, type: "all") == [100, 101, 102])
        #expect(numbers(messages, type: "seq") == [0, 1, 2, 3, 4])
        let recoveries = messages.filter { $0["type"] as? String == "recovery" }
        #expect(recoveries.allSatisfy { $0["recovered"] as? Bool == true })
        #expect(recoveries.last?["channel"] as? String == "inbox")
        #expect(recoveries.last?["count"] as? Int == 5)
        await again.close()
        await node.stop()
    }

    @Test("?channels= on connect: a resume includes the sub-channel's events in order")
    func channelsAtConnect() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token(channels: ["inbox"])
        let offset = try await missInboxEvents(node, token: token)
        let again = try await node.connect(token: token, path: "/ws?token=\(token)&since=\(offset)&channels=inbox")
        let messages = await again.drainJSON()
        #expect(numbers(messages) == [0, 100, 1, 101, 2, 102, 3, 4])
        #expect(messages.last?["type"] as? String == "recovery")
        #expect(messages.last?["recovered"] as? Bool == true)
        #expect(messages.last?["count"] as? Int == 8)
        await again.close()
        await node.stop()
    }

    @Test("subscribe sent before reading connected, and subscribe with its own since")
    func subscribeOrderings() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token(channels: ["inbox"])
        let offset = try await missInboxEvents(node, token: token)

        // The client's subscribe is on the wire before it has seen `connected`.
        let eager = try await TestWebSocketClient.connect(port: node.port, path: "/ws?token=\(token)&since=\(offset)")
        try await eager.sendText(#"{"type":"subscribe","channel":"inbox"}"#)
        let eagerMessages = await eager.drainJSON()
        #expect(eagerMessages.first?["type"] as? String == "connected")
        #expect(numbers(eagerMessages, type: "seq") == [0, 1, 2, 3, 4])
        #expect(numbers(eagerMessages, type: "all") == [100, 101, 102])
        await eager.close()

        // A fresh connection names the channel's own recovery point in its subscribe.
        let fresh = try await node.connect(token: token)
        try await fresh.sendText(#"{"type":"subscribe","channel":"inbox","since":"\#(offset)","id":"s"}"#)
        let freshMessages = await fresh.drainJSON()
        #expect(numbers(freshMessages, type: "seq") == [0, 1, 2, 3, 4])
        #expect(numbers(freshMessages, type: "all") == [])
        // The ack comes last: the channel is caught up when it arrives.
        #expect(freshMessages.last?["type"] as? String == "ack")
        let recovery = try #require(freshMessages.dropLast().last)
        #expect(recovery["type"] as? String == "recovery" && recovery["recovered"] as? Bool == true && recovery["channel"] as? String == "inbox")
        try await fresh.sendText(#"{"type":"subscribe","channel":"kpi","since":"nope"}"#)
        #expect(try await fresh.next()["code"] as? String == "channel_forbidden")
        await fresh.close()
        await node.stop()
    }

    @Test("a plain connection that subscribes late still gets the channel's events published since it connected")
    func lateSubscribeWithoutResume() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token(channels: ["inbox"])
        let client = try await node.connect(token: token)
        for sequence in 0..<3 {
            _ = try await node.publish(#"{"account":"42","type":"seq","channel":"inbox","data":{"n":\#(sequence)}}"#)
        }
        _ = try await node.publish(#"{"account":"42","type":"all","data":{"n":100}}"#)
        #expect(numbers(await client.drainJSON()) == [100])
        try await client.sendText(#"{"type":"subscribe","channel":"inbox","id":1}"#)
        let messages = await client.drainJSON()
        // Silent on success (the client did not resume), so only the events and the ack.
        #expect(numbers(messages) == [0, 1, 2])
        #expect(messages.contains { $0["type"] as? String == "ack" })
        #expect(!messages.contains { $0["type"] as? String == "recovery" })
        _ = try await node.publish(#"{"account":"42","type":"seq","channel":"inbox","data":{"n":3}}"#)
        #expect(numbers(await client.drainJSON()) == [3])
        await client.close()
        await node.stop()
    }

    @Test("?channels= is checked against the token at the upgrade")
    func channelsRefused() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token(channels: ["inbox"])
        for (query, status, code) in [("secret", 403, "channel_forbidden"), ("in%20box", 400, "invalid_channel"), ("inbox,", 400, "invalid_channel")] {
            let response = try await TestHTTPClient.request(
                .GET, port: node.port, path: "/ws?token=\(token)&channels=\(query)",
                headers: [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-version", "13"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")])
            #expect(response.status == status, "\(query)")
            #expect(response.json?["error"] as? String == code, "\(query)")
        }
        await node.stop()
    }
}
