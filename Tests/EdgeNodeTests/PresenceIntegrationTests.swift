import Foundation
import HeraldTestSupport
import PubSubBridge
import Testing

/// Presence and typing across nodes on a real redis-server, including a node killed with SIGKILL.
@Suite("Presence and typing", .serialized)
struct PresenceIntegrationTests {
    /// Presence and typing events received until quiet, as (type, user) pairs.
    private func presenceEvents(_ client: TestWebSocketClient, quiet: Duration = .milliseconds(400)) async -> [String] {
        await client.drainJSON(quiet: quiet, includingPresence: true).compactMap { event in
            guard let type = event["type"] as? String, type.hasPrefix("presence.") || type.hasPrefix("typing."),
                let user = (event["data"] as? [String: Any])?["user"] as? String
            else { return nil }
            return "\(type) \(user)"
        }
    }

    private func fastPresence(_ configuration: inout EdgeNodeConfigurationAlias) {
        configuration.presenceTiming = .init(entryTTL: 3000, refreshInterval: 1000, typingTTL: 1500)
    }

    @Test("user-level join and leave across tabs and nodes; presence.get and the HTTP endpoint agree")
    func joinAndLeave() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodeA = try await RunningNode.start(redisURL: redis.url, fastPresence)
        let nodeB = try await RunningNode.start(redisURL: redis.url, fastPresence)
        let observer = try await nodeA.connect(token: try await Fixture.token(user: "observer"))
        _ = await presenceEvents(observer)

        let aliceTab1 = try await nodeA.connect(token: try await Fixture.token(user: "alice"))
        #expect(await presenceEvents(observer) == ["presence.join alice"])
        let aliceTab2 = try await nodeB.connect(token: try await Fixture.token(user: "alice"))
        let bob = try await nodeB.connect(token: try await Fixture.token(user: "bob"))
        #expect(await presenceEvents(observer) == ["presence.join bob"])

        try await observer.sendText(#"{"type":"presence.get","id":"p","account":"43"}"#)
        let state = try await observer.next()
        #expect(state["type"] as? String == "presence.state")
        #expect(state["ref"] as? String == "p")
        let users = (state["users"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) { $0[$1["user"] as! String] = $1["connections"] as? Int }
        #expect(users == ["observer": 1, "alice": 2, "bob": 1])

        let http = try await TestHTTPClient.request(.GET, port: nodeB.port, path: "/api/v1/accounts/42/presence", headers: [("authorization", "Bearer \(Fixture.apiKey)")])
        #expect(http.status == 200)
        let httpUsers = (http.json?["users"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) { $0[$1["user"] as! String] = $1["connections"] as? Int }
        #expect(httpUsers == users)
        let other = try await TestHTTPClient.request(.GET, port: nodeB.port, path: "/api/v1/accounts/43/presence", headers: [("authorization", "Bearer \(Fixture.apiKey)")])
        #expect(other.status == 200)
        #expect((other.json?["users"] as? [Any])?.isEmpty == true)
        #expect(try await TestHTTPClient.request(.GET, port: nodeB.port, path: "/api/v1/accounts/42/presence").status == 401)
        #expect(try await TestHTTPClient.request(.GET, port: nodeB.port, path: "/api/v1/accounts/4%7B2/presence", headers: [("authorization", "Bearer \(Fixture.apiKey)")]).status == 400)

        await aliceTab1.close()
        #expect(await presenceEvents(observer).isEmpty)
        await aliceTab2.close()
        #expect(await presenceEvents(observer) == ["presence.leave alice"])
        await bob.close()
        #expect(await presenceEvents(observer) == ["presence.leave bob"])

        await observer.close()
        await nodeA.stop()
        await nodeB.stop()
    }

    @Test("a node killed with SIGKILL: its users leave on the surviving nodes, exactly once each")
    func crashedNode() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodeA = try await RunningNode.start(redisURL: redis.url, fastPresence)
        let nodeB = try await RunningNode.start(redisURL: redis.url, fastPresence)
        let child = try await EdgeNodeProcess.start(environment: [
            "HERALD_REDIS_URL": redis.url, "HERALD_JWT_SECRET": Fixture.secret,
            "HERALD_PRESENCE_TTL_SECONDS": "3", "HERALD_PRESENCE_REFRESH_SECONDS": "1", "HERALD_EVENT_LOOPS": "1",
        ])
        defer { child.kill() }
        let observers = [
            try await nodeA.connect(token: try await Fixture.token(user: "observer-a")),
            try await nodeB.connect(token: try await Fixture.token(user: "observer-b")),
        ]
        var doomed: [TestWebSocketClient] = []
        for user in ["alice", "alice", "carol"] {
            let client = try await TestWebSocketClient.connect(port: child.port, path: "/ws?token=\(try await Fixture.token(user: user))")
            _ = try await client.receiveJSON()
            doomed.append(client)
        }
        for observer in observers {
            let joins = await presenceEvents(observer).filter { !$0.contains("observer") }
            #expect(joins.sorted() == ["presence.join alice", "presence.join carol"])
        }

        let killedAt = ContinuousClock.now
        child.kill()
        var leaves: [[String]] = [[], []]
        while ContinuousClock.now - killedAt < .seconds(9) {
            for (index, observer) in observers.enumerated() {
                leaves[index] += await presenceEvents(observer, quiet: .milliseconds(200))
            }
        }
        for observed in leaves {
            #expect(observed.sorted() == ["presence.leave alice", "presence.leave carol"])
        }
        for observer in observers { await observer.close() }
        await nodeA.stop()
        await nodeB.stop()
    }

    @Test("typing: 20 starts give one typing.start, silence one typing.stop within TTL + 1 s, an explicit stop one stop")
    func typing() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodeA = try await RunningNode.start(redisURL: redis.url, fastPresence)
        let nodeB = try await RunningNode.start(redisURL: redis.url, fastPresence)
        let typist = try await nodeA.connect(token: try await Fixture.token(user: "alice"))
        let reader = try await nodeB.connect(token: try await Fixture.token(user: "bob"))
        _ = await presenceEvents(reader)
        _ = await presenceEvents(typist)

        for _ in 0..<20 {
            try await typist.sendText(#"{"type":"typing.start","conversation_id":"c1"}"#)
            try await Task.sleep(for: .milliseconds(100))
        }
        let stoppedTypingAt = ContinuousClock.now
        var seen = await presenceEvents(reader, quiet: .milliseconds(100))
        while ContinuousClock.now - stoppedTypingAt < .milliseconds(2500), !seen.contains("typing.stop alice") {
            seen += await presenceEvents(reader, quiet: .milliseconds(100))
        }
        #expect(ContinuousClock.now - stoppedTypingAt < .milliseconds(2500))  // TTL 1.5 s + 1 s
        seen += await presenceEvents(reader, quiet: .milliseconds(800))
        #expect(seen == ["typing.start alice", "typing.stop alice"])
        #expect(await presenceEvents(typist).isEmpty)  // no echo to the typist

        try await typist.sendText(#"{"type":"typing.start","conversation_id":"c2","id":1}"#)
        #expect(try await typist.next()["type"] as? String == "ack")
        try await typist.sendText(#"{"type":"typing.stop","conversation_id":"c2"}"#)
        try await typist.sendText(#"{"type":"typing.stop","conversation_id":"c2"}"#)
        #expect(await presenceEvents(reader, quiet: .seconds(2)) == ["typing.start alice", "typing.stop alice"])

        await typist.close()
        await reader.close()
        await nodeA.stop()
        await nodeB.stop()
    }

    @Test("typing and presence bad inputs get errors; floods are limited")
    func badInputs() async throws {
        let node = try await RunningNode.start { $0.clientMessageBurst = 10; $0.clientMessagesPerSecond = 10 }
        let client = try await node.connect(token: try await Fixture.token())
        for body in [#"{"type":"typing.start"}"#, #"{"type":"typing.start","conversation_id":5}"#,
                     #"{"type":"typing.stop","conversation_id":"\#(String(repeating: "c", count: 200))"}"#,
                     #"{"type":"typing.start","conversation_id":"has space"}"#] {
            try await client.sendText(body)
            #expect(try await client.next()["code"] as? String == "invalid_conversation", "\(body)")
        }
        for index in 0..<17 {
            try await client.sendText(#"{"type":"typing.start","conversation_id":"c\#(index)"}"#)
        }
        let errors = await client.drainJSON().compactMap { $0["code"] as? String }
        #expect(errors.contains("rate_limited"))
        await node.stop()
    }

    @Test("embedded mode: the same join, leave and typing behaviour without Redis")
    func embedded() async throws {
        let node = try await RunningNode.start(fastPresence)
        let observer = try await node.connect(token: try await Fixture.token(user: "observer"))
        _ = await presenceEvents(observer)
        let alice = try await node.connect(token: try await Fixture.token(user: "alice"))
        let aliceAgain = try await node.connect(token: try await Fixture.token(user: "alice"))
        #expect(await presenceEvents(observer) == ["presence.join alice"])
        try await alice.sendText(#"{"type":"typing.start","conversation_id":"c1"}"#)
        #expect(await presenceEvents(observer) == ["typing.start alice"])
        #expect(await presenceEvents(observer, quiet: .milliseconds(2500)) == ["typing.stop alice"])
        await alice.close()
        await aliceAgain.close()
        #expect(await presenceEvents(observer) == ["presence.leave alice"])
        await observer.close()
        await node.stop()
    }
}
