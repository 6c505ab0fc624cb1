import Foundation
import HeraldBroker
import HeraldProtocol
import HeraldTestSupport
import Logging
import PubSubBridge
import RedisBackend
import Testing

/// A Redis that stops answering, against real redis-server processes and real clients: readiness turns off
/// within about 3 s and back on after, the API answers 503 within the command deadline instead of hanging,
/// upgrades do not hang, a SUBSCRIBE refused by an ACL shows in readiness, and what was published around the
/// stall reaches every client exactly once, in order.
@Suite("Redis stalls and refusals at the edge", .serialized, .timeLimit(.minutes(3)))
struct RedisStallTests {
    enum Stall: String, CustomStringConvertible, CaseIterable {
        case clientPause = "CLIENT PAUSE"
        case sigstop = "SIGSTOP"
        var description: String { rawValue }
    }

    private func report(_ line: String) {
        var logger = Logger(label: "herald.stall.test")
        logger.logLevel = .notice
        logger.notice("\(line)")
    }

    private func readyz(_ node: RunningNode) async -> TestHTTPClient.Response? {
        try? await TestHTTPClient.request(.GET, port: node.port, path: "/readyz", timeout: .seconds(2))
    }

    private func publish(_ node: RunningNode, _ body: String) async throws -> (TestHTTPClient.Response, Duration) {
        let clock = ContinuousClock()
        let started = clock.now
        let response = try await TestHTTPClient.request(
            .POST, port: node.port, path: "/api/v1/publish",
            headers: [("authorization", "Bearer \(Fixture.apiKey)"), ("content-type", "application/json")], body: body,
            timeout: .seconds(12))
        return (response, clock.now - started)
    }

    @Test("readiness turns off within ~3 s of a stall and back on after; publishes and upgrades never hang", arguments: Stall.allCases)
    func readinessFollowsAStall(_ stall: Stall) async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let token = try await Fixture.token()
        let client = try await node.connect(token: token)
        let probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 1)
        await probe.close()
        // Let the node's connections go idle, so only the keepalive can notice.
        try await Task.sleep(for: .milliseconds(1500))

        let clock = ContinuousClock()
        let stalled = clock.now
        switch stall {
        case .clientPause: try redis.pauseClients(milliseconds: 7000)
        case .sigstop: redis.suspend()
        }
        let publishing = Task { try await self.publish(node, #"{"account":"42","type":"during"}"#) }
        let upgrading = Task { () -> (String, Duration) in
            let started = clock.now
            do {
                let upgraded = try await TestWebSocketClient.connect(port: node.port, path: "/ws?token=\(token)", timeout: .seconds(10))
                await upgraded.close()
                return ("101", clock.now - started)
            } catch let refusal as HTTPRefusal {
                return ("\(refusal.status)", clock.now - started)
            } catch {
                return ("\(error)", clock.now - started)
            }
        }

        var unready: Duration?
        var detail: String?
        while clock.now - stalled < .seconds(8), unready == nil {
            if let response = await self.readyz(node), response.status == 503 {
                unready = clock.now - stalled
                detail = response.json?["detail"] as? String
            } else {
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        let (during, publishTime) = try await publishing.value
        let (upgrade, upgradeTime) = await upgrading.value
        // Once unready, the API and upgrades answer 503 at once.
        let (after, afterTime) = try await self.publish(node, #"{"account":"42","type":"after"}"#)
        var refusedUpgrade: HTTPRefusal?
        do {
            let upgraded = try await TestWebSocketClient.connect(port: node.port, path: "/ws?token=\(token)", timeout: .seconds(5))
            await upgraded.close()
        } catch let refusal as HTTPRefusal {
            refusedUpgrade = refusal
        }

        switch stall {
        case .clientPause: break  // ends by itself
        case .sigstop: redis.resume()
        }
        let ended = clock.now
        var ready: Duration?
        while clock.now - ended < .seconds(20), ready == nil {
            if let response = await self.readyz(node), response.status == 200 { ready = clock.now - stalled }
            try await Task.sleep(for: .milliseconds(25))
        }
        self.report("""
            \(stall): /readyz 503 after \(unready.map { "\($0)" } ?? "never") (detail: \(detail ?? "-")); \
            a publish sent at the stall answered \(during.status) after \(publishTime); \
            an upgrade sent at the stall answered \(upgrade) after \(upgradeTime); \
            once unready a publish answered \(after.status) after \(afterTime); \
            ready again \(ready.map { "\($0)" } ?? "never") after the stall began \
            (\(stall == .sigstop ? "SIGCONT at \(ended - stalled)" : "the pause ended by itself at 7 s"))
            """)

        #expect(unready.map { $0 <= .milliseconds(3500) } == true, "readiness must turn off within about 3 s")
        #expect(detail?.contains("Redis") == true)
        #expect(during.status == 503)
        #expect(during.json?["error"] as? String == "unavailable")
        #expect(publishTime < .seconds(3), "the command deadline is 2 s")
        #expect(upgrade == "101" || upgrade == "503")
        #expect(upgradeTime < .seconds(4))
        #expect(after.status == 503)
        #expect(afterTime < .seconds(1))
        #expect(refusedUpgrade?.status == 503)
        #expect(ready != nil, "readiness must come back")
        #expect(!client.isClosed, "connected clients stay connected through a stall")
        await client.close()
        await node.stop()
    }

    @Test("events published around a Redis pause reach every client once, in order")
    func catchUpAfterAStall() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodes = [try await RunningNode.start(redisURL: redis.url), try await RunningNode.start(redisURL: redis.url)]
        var clients: [TestWebSocketClient] = []
        for (index, node) in nodes.enumerated() {
            for user in 0..<2 { clients.append(try await node.connect(token: try await Fixture.token(user: "u\(index)-\(user)"))) }
        }
        let probe = try await RedisProbe.connect(redis)
        try await probe.waitForSubscribers(account: "42", count: 2)
        await probe.close()

        func event(_ sequence: Int) -> String { #"{"type":"seq","data":{"n":\#(sequence)}}"# }
        var acknowledged: [Int] = []
        var refusedByAPI = 0
        var slowest = Duration.zero
        let clock = ContinuousClock()
        var pausedAt: ContinuousClock.Instant?
        for sequence in 0..<3000 {
            if sequence == 20 {
                try redis.pauseClients(milliseconds: 4000)
                pausedAt = clock.now
            }
            if sequence % 2 == 0 {
                // The HTTP API of node 0: 503 within the deadline while Redis does not answer.
                let (response, elapsed) = try await self.publish(nodes[0], #"{"account":"42","type":"seq","data":{"n":\#(sequence)}}"#)
                slowest = max(slowest, elapsed)
                if response.status == 200 { acknowledged.append(sequence) } else { refusedByAPI += 1 }
            } else {
                // A backend's own FCALL on a fresh connection (1 s socket timeouts): the node's subscriber may still be
                // reconnecting when these land again, so only the catch-up from history can deliver them.
                let reply = redis.command("FCALL", "herald_publish", "1", "herald:{42}", event(sequence))
                if reply?.hasPrefix("$") == true { acknowledged.append(sequence) }
            }
            if let pausedAt, clock.now - pausedAt > .seconds(7), acknowledged.filter({ $0 > 20 }).count >= 60 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        for node in nodes { try await node.waitUntilReady() }

        self.report("stall catch-up: \(acknowledged.count) acknowledged, \(refusedByAPI) API publishes refused with 503, slowest API answer \(slowest)")
        #expect(refusedByAPI > 0, "the pause must have made some API publishes fail")
        #expect(slowest < .seconds(3), "the API answers within the command deadline")
        #expect(acknowledged.filter { $0 > 20 }.count >= 60)
        for client in clients {
            let events = await client.drainJSON(quiet: .seconds(2)).filter { $0["type"] as? String == "seq" }
            let numbers = events.compactMap { ($0["data"] as? [String: Any])?["n"] as? Int }
            let offsets = events.compactMap { ($0["offset"] as? String).flatMap(StreamOffset.init) }
            #expect(offsets.count == events.count)
            #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 < $1 }, "history order")
            #expect(Set(numbers).count == numbers.count, "no duplicates")
            let missing = Set(acknowledged).subtracting(numbers)
            #expect(missing.isEmpty, "acknowledged but never delivered: \(missing.sorted())")
            let acknowledgedSet = Set(acknowledged)
            #expect(numbers.filter(acknowledgedSet.contains) == acknowledged, "acknowledged events in publish order")
            #expect(!client.isClosed)
        }
        for node in nodes { await node.stop() }
    }

    @Test("a SUBSCRIBE refused by an ACL turns readiness off with a reason naming it, and back on once allowed")
    func refusedSubscription() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let created = redis.command("ACL", "SETUSER", "herald", "on", ">pw", "~*", "+@all", "resetchannels", "&herald:{42}")
        #expect(created?.hasPrefix("+OK") == true)
        let node = try await RunningNode.start(redisURL: "redis://herald:pw@127.0.0.1:\(redis.port)")
        let allowed = try await node.connect(token: try await Fixture.token(account: "42", user: "a"))
        let denied = try await node.connect(token: try await Fixture.token(account: "7", user: "b"))

        var refusal: [String: Any]?
        for _ in 0..<200 where refusal == nil {
            if let response = await self.readyz(node), response.status == 503 { refusal = response.json }
            try await Task.sleep(for: .milliseconds(25))
        }
        self.report("refused SUBSCRIBE: /readyz answered \(refusal.map { "\($0)" } ?? "200 throughout")")
        let detail = refusal?["detail"] as? String ?? ""
        #expect(refusal?["reason"] as? String == "broker unavailable")
        #expect(detail.contains("NOPERM") && detail.contains("herald:{7}"), "the reason names the channel and Redis's error: \(detail)")

        // The allowed account still gets its events.
        let probe = try await RedisProbe.connect(redis)
        _ = try await probe.publish(account: "42", #"{"type":"still"}"#)
        #expect(await allowed.drainJSON().map { $0["type"] as? String } == ["still"])

        // Allowing the channel brings readiness back without a restart, and the account is no longer deaf.
        #expect(redis.command("ACL", "SETUSER", "herald", "&herald:{7}")?.hasPrefix("+OK") == true)
        try await node.waitUntilReady(timeout: .seconds(10))
        try await probe.waitForSubscribers(account: "7", count: 1)
        _ = try await probe.publish(account: "7", #"{"type":"heard"}"#)
        #expect(await denied.drainJSON().map { $0["type"] as? String } == ["heard"])
        await probe.close()
        await allowed.close()
        await denied.close()
        await node.stop()
    }
}
