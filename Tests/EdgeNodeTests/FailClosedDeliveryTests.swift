import Foundation
import HeraldTestSupport
import NIOCore
import PubSubBridge
import Testing

/// Events that cannot be delivered exactly and safely reach nobody: ambiguous or non-string
/// targets, ids that differ only in Unicode normalization, invalid UTF-8, forged server frames,
/// duplicate offsets. The HTTP API refuses what the broker path drops, and keeps `data` byte for
/// byte. One real redis-server, one node, real WebSocket clients.
@Suite("Fail-closed delivery through Redis", .serialized)
struct FailClosedDeliveryTests {
    /// Spelled out here rather than read from `ReservedEventType`: the test states the contract.
    static let serverOnlyTypes = ["connected", "recovery", "pong", "error", "ack", "presence.state", "refreshed"]
    static let heraldPublishedTypes = ["presence.join", "presence.leave", "typing.start", "typing.stop"]

    /// A node on a fresh redis-server, with a raw Redis connection for publishing like `redis-cli`.
    struct Setup {
        let redis: RedisServerProcess
        let node: RunningNode
        let probe: RedisProbe

        static func start() async throws -> Setup {
            let redis = try await RedisServerProcess.start()
            do {
                let node = try await RunningNode.start(redisURL: redis.url)
                return Setup(redis: redis, node: node, probe: try await RedisProbe.connect(redis))
            } catch {
                redis.stop()
                throw error
            }
        }

        /// Connects one client per user id of account 42 and waits until the node subscribed.
        func clients(_ users: [String]) async throws -> [TestWebSocketClient] {
            var clients: [TestWebSocketClient] = []
            for user in users { clients.append(try await node.connect(token: try await Fixture.token(user: user))) }
            try await probe.waitForSubscribers(account: "42", count: 1)
            for client in clients { _ = await client.drain(quiet: .milliseconds(100)) }
            return clients
        }

        /// `herald_events_rejected_total{reason=…}` from the node's metrics.
        func rejected(_ reason: String) async throws -> Int {
            let metrics = try await TestHTTPClient.request(.GET, port: node.port, path: "/metrics").body
            let prefix = #"herald_events_rejected_total{reason="\#(reason)"} "#
            let line = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }
            return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
        }

        func stop(_ clients: [TestWebSocketClient]) async {
            for client in clients { await client.close() }
            await probe.close()
            await node.stop()
            redis.stop()
        }
    }

    /// Publishes `events` raw, then a sentinel: each client must receive exactly what `expected`
    /// says (by `type`) and then the sentinel, which proves the refused events are not merely late.
    static func expectDelivery(
        _ setup: Setup, publish events: [[UInt8]], to clients: [TestWebSocketClient], expected: [[String]],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        for event in events { _ = try await setup.probe.publish(account: "42", bytes: event) }
        _ = try await setup.probe.publish(account: "42", #"{"type":"sentinel"}"#)
        for (client, types) in zip(clients, expected) {
            // Presence joins and leaves come from connects; anything else (and non-JSON text) counts.
            let receivedTypes = await client.drain(quiet: .milliseconds(300)).compactMap(\.text).compactMap { text -> String? in
                guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return text }
                return TestWebSocketClient.isPresence(json) ? nil : json["type"] as? String ?? text
            }
            #expect(receivedTypes == types + ["sentinel"], sourceLocation: sourceLocation)
        }
    }

    @Test("a user, channel or exclude_user that is not a string or an integer reaches nobody; integers match by exact text")
    func targetingFailsClosed() async throws {
        let setup = try await Setup.start()
        let users = ["alice", "9007199254740993", "9007199254740992", "-0", "0"]
        let clients = try await setup.clients(users)
        let none = Array(repeating: [String](), count: users.count)

        let badValues = ["null", "{}", #"{"id":"alice"}"#, "[]", #"["alice"]"#, "true", "false", "1.5", "9007199254740993.0", "1e3"]
        var bad: [[UInt8]] = []
        for field in ["user", "channel", "exclude_user"] {
            for value in badValues { bad.append(Array(#"{"type":"leak","\#(field)":\#(value)}"#.utf8)) }
        }
        try await Self.expectDelivery(setup, publish: bad, to: clients, expected: none)
        #expect(try await setup.rejected("invalid_target") == bad.count)

        // 2^53 + 1 is not rounded to 2^53: it reaches exactly the user whose id is its text.
        try await Self.expectDelivery(
            setup, publish: [Array(#"{"type":"exact","user":9007199254740993}"#.utf8)], to: clients,
            expected: [[], ["exact"], [], [], []])
        try await Self.expectDelivery(
            setup, publish: [Array(#"{"type":"exact","user":-0}"#.utf8), Array(#"{"type":"exact","exclude_user":9007199254740992}"#.utf8)],
            to: clients, expected: [["exact"], ["exact"], [], ["exact", "exact"], ["exact"]])
        await setup.stop(clients)
    }

    @Test("the NFC and NFD spellings of a user id are two users")
    func idsCompareByteForByte() async throws {
        let setup = try await Setup.start()
        let nfc = "caf\u{E9}"
        let nfd = "cafe\u{301}"
        let clients = try await setup.clients([nfc, nfd])

        try await Self.expectDelivery(
            setup,
            publish: [
                Array(#"{"type":"to.nfc","user":"\#(nfc)"}"#.utf8), Array(#"{"type":"to.nfd","user":"\#(nfd)"}"#.utf8),
                Array(#"{"type":"not.nfc","exclude_user":"\#(nfc)"}"#.utf8),
            ],
            to: clients, expected: [["to.nfc"], ["to.nfd", "not.nfc"]])

        let response = try await setup.node.publish(#"{"account":"42","type":"api.nfd","user":"\#(nfd)","history":false}"#)
        #expect(response.status == 200)
        try await Self.expectDelivery(setup, publish: [], to: clients, expected: [[], ["api.nfd"]])
        await setup.stop(clients)
    }

    @Test("a raw PUBLISH with invalid UTF-8 reaches nobody and is counted")
    func invalidUTF8IsDropped() async throws {
        let setup = try await Setup.start()
        let clients = try await setup.clients(["alice", "bob"])
        let poison: [[UInt8]] = [[0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF]].map { sequence in
            Array(#"{"type":"poison","data":{"text":"a"#.utf8) + sequence + Array(#""}}"#.utf8)
        } + [Array(#"{"type":"poison","data":"\ud800"}"#.utf8)]
        try await Self.expectDelivery(setup, publish: poison, to: clients, expected: [[], []])
        #expect(try await setup.rejected("invalid_utf8") == poison.count)
        await setup.stop(clients)
    }

    @Test("server-only types are dropped from raw publishes and refused by the HTTP API")
    func forgedServerFramesAreRefused() async throws {
        let setup = try await Setup.start()
        let clients = try await setup.clients(["alice"])

        let forged = (Self.serverOnlyTypes + [#"conn\u0065cted"#]).map { type in
            Array(#"{"type":"\#(type)","connection_id":"forged","recovered":true,"count":0,"users":[]}"#.utf8)
        }
        try await Self.expectDelivery(setup, publish: forged, to: clients, expected: [[]])
        #expect(try await setup.rejected("reserved_type") == forged.count)

        // Herald's own presence and typing events still travel through Redis.
        try await Self.expectDelivery(
            setup, publish: [Array(#"{"type":"typing.start","data":{"conversation_id":"c1","user":"zed"}}"#.utf8)],
            to: clients, expected: [["typing.start"]])

        for type in Self.serverOnlyTypes + Self.heraldPublishedTypes {
            let response = try await setup.node.publish(#"{"account":"42","type":"\#(type)","data":{}}"#)
            #expect(response.status == 400, "\(type)")
            #expect(response.json?["error"] as? String == "bad_request")
            #expect((response.json?["message"] as? String)?.contains(#""\#(type)" is reserved"#) == true, "\(response.body)")
        }
        let batch = try await TestHTTPClient.request(
            .POST, port: setup.node.port, path: "/api/v1/publish/batch", headers: [("authorization", "Bearer \(Fixture.apiKey)")],
            body: #"{"events":[{"account":"42","type":"ok"},{"account":"42","type":"recovery"}]}"#)
        #expect(batch.status == 400)
        #expect((batch.json?["message"] as? String)?.hasPrefix("events[1]:") == true)
        try await Self.expectDelivery(setup, publish: [], to: clients, expected: [[]])
        await setup.stop(clients)
    }

    @Test("an event with two offset keys (or two of any routing key) reaches nobody")
    func duplicateKeysAreDropped() async throws {
        let setup = try await Setup.start()
        let clients = try await setup.clients(["alice", "bob"])
        let ambiguous = [
            #"{"offset":"lq3k2f:1732500000000-0","type":"dup","offset":"zzzzzz:9999999999999-9"}"#,
            #"{"type":"dup","type":"connected"}"#,
            #"{"type":"dup","user":"alice","user":"bob"}"#,
            #"{"type":"dup","channel":"a","channel":"b"}"#,
            #"{"type":"dup","exclude_user":"alice","exclude_us\u0065r":"bob"}"#,
        ].map { Array($0.utf8) }
        try await Self.expectDelivery(setup, publish: ambiguous, to: clients, expected: [[], []])
        #expect(try await setup.rejected("duplicate_key") == ambiguous.count)
        await setup.stop(clients)
    }

    @Test("the HTTP API delivers data byte for byte and refuses invalid UTF-8, invalid JSON and non-id users")
    func httpPublishKeepsDataBytes() async throws {
        let setup = try await Setup.start()
        let clients = try await setup.clients(["alice", "9007199254740993", "9007199254740992"])
        let alice = clients[0]

        let response = try await setup.node.publish(#"{"account":"42","type":"kpi","data":{"b":1,"a":1.50,"c":1e2}}"#)
        #expect(response.status == 200)
        let offset = try #require(response.json?["offset"] as? String)
        #expect(try await alice.nextText() == #"{"offset":"\#(offset)","type":"kpi","data":{"b":1,"a":1.50,"c":1e2}}"#)

        let batch = try await TestHTTPClient.request(
            .POST, port: setup.node.port, path: "/api/v1/publish/batch", headers: [("authorization", "Bearer \(Fixture.apiKey)")],
            body: #"{"events":[{"account":"42","type":"b1","history":false,"data":[1.0,{"z":1,"y":"\u00e9"}]}]}"#)
        #expect(batch.status == 200)
        #expect(try await alice.nextText() == #"{"type":"b1","data":[1.0,{"z":1,"y":"\u00e9"}]}"#)
        try await Self.expectDelivery(setup, publish: [], to: clients, expected: [[], ["kpi", "b1"], ["kpi", "b1"]])

        // A 64-bit id sent as a JSON integer reaches that user only, exactly as a raw publish would.
        #expect(try await setup.node.publish(#"{"account":"42","type":"private","user":9007199254740993}"#).status == 200)
        try await Self.expectDelivery(setup, publish: [], to: clients, expected: [[], ["private"], []])

        let invalidUTF8 = Array(#"{"account":"42","type":"x","data":{"s":""#.utf8) + [0xC0, 0xAF] + Array(#""}}"#.utf8)
        let refusedBodies: [[UInt8]] = [
            invalidUTF8,
            Array(#"{"account":"42","type":"x","data":"\udc00"}"#.utf8),
            Array(#"{"account":"42","type":"x","data":{}"#.utf8),
            Array(#"{"account":"42","type":"x","data":{}} trailing"#.utf8),
            Array(#"{"account":"42","type":"x","user":null}"#.utf8),
            Array(#"{"account":"42","type":"x","user":1.5}"#.utf8),
            Array(#"{"account":"42","type":"x","user":true}"#.utf8),
        ]
        for body in refusedBodies {
            let refused = try await TestHTTPClient.request(
                .POST, port: setup.node.port, path: "/api/v1/publish", headers: [("authorization", "Bearer \(Fixture.apiKey)")], bodyBytes: body)
            #expect(refused.status == 400, "\(String(decoding: body, as: UTF8.self))")
            #expect(refused.json?["error"] as? String == "bad_request")
        }
        try await Self.expectDelivery(setup, publish: [], to: clients, expected: [[], [], []])
        await setup.stop(clients)
    }
}

extension RedisProbe {
    /// PUBLISH of raw bytes, which need not be valid UTF-8 (as `redis-cli` or any client can send).
    func publish(account: String, bytes: [UInt8]) async throws -> Int64 {
        let reply = try await connection.send([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: "herald:{\(account)}"), ByteBuffer(bytes: bytes)]).get()
        guard case .integer(let receivers) = reply else { throw TestFailure("PUBLISH answered \(reply)") }
        return receivers
    }
}
