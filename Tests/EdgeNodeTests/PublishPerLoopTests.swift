import Foundation
import HeraldProtocol
import HeraldTestSupport
import Testing

/// `HERALD_REDIS_PUBLISH_PER_LOOP`: HTTP publishes go out on a Redis connection of the event loop
/// that read them. Publishes arriving on both loops at once still reach every client once, in the
/// order each publisher sent them, with offsets that only grow.
@Suite("Publishing on a Redis connection per event loop", .serialized, .timeLimit(.minutes(1)))
struct PublishPerLoopTests {
    @Test("concurrent HTTP publishes on both loops reach each client once, in each publisher's order")
    func everyEventOnceInOrder() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.launch(backend: try Fixture.backend(redisURL: redis.url, publishPerLoop: true))
        let probe = try await RedisProbe.connect(redis)
        let accounts = ["p1", "p2", "p3", "p4"]
        var clients: [TestWebSocketClient] = []
        for account in accounts {
            clients.append(try await node.connect(token: try await Fixture.token(account: account, user: "u")))
            try await probe.waitForSubscribers(account: account, count: 1)
        }
        // The node's own connections: subscriber, command, and one publish connection per loop (2).
        let listed = try await probe.connection.send("CLIENT", "LIST").get().string ?? ""
        #expect(listed.split(separator: "\n").count >= 4 + 1, "expected the node's 4 connections and the probe's: \(listed)")

        let perPublisher = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for account in accounts {
                group.addTask {
                    // One request per TCP connection: the node accepts them on both of its loops.
                    for sequence in 0..<perPublisher {
                        let response = try await node.publish(#"{"account":"\#(account)","type":"seq","data":{"n":\#(sequence)}}"#)
                        #expect(response.status == 200, "\(account) #\(sequence): \(response.body)")
                    }
                }
            }
            try await group.waitForAll()
        }
        for (client, account) in zip(clients, accounts) {
            let events = await client.drainJSON(quiet: .milliseconds(500)).filter { $0["type"] as? String == "seq" }
            let sequence = events.compactMap { ($0["data"] as? [String: Any])?["n"] as? Int }
            #expect(sequence == Array(0..<perPublisher), "\(account): \(sequence)")
            let offsets = events.compactMap { ($0["offset"] as? String).flatMap(StreamOffset.init) }
            #expect(offsets.count == perPublisher)
            #expect(zip(offsets, offsets.dropFirst()).allSatisfy { $0 < $1 }, "\(account): offsets out of order")
        }
        await node.stop()
    }
}
