import Foundation
import HeraldTestSupport
import NIOCore
import PubSubBridge
import RedisBackend
import Testing

/// Upstream into a Redis stream and replies to one connection, against real redis-server
/// processes and real WebSocket clients: what lands in the stream, when the client hears `ack`,
/// what happens while Redis is down, and request/response across two nodes.
@Suite("Upstream through a Redis stream", .serialized)
struct UpstreamStreamTests {
    /// A client with the `connection_id` of its `connected` frame.
    struct Connected {
        let client: TestWebSocketClient
        let id: String
    }

    static func connect(_ node: RunningNode, user: String = "alice", account: String = "42") async throws -> Connected {
        let token = try await Fixture.token(account: account, user: user)
        let client = try await TestWebSocketClient.connect(port: node.port, path: "/ws?token=\(token)")
        let connected = try await client.receiveJSON()
        guard connected["type"] as? String == "connected", let id = connected["connection_id"] as? String else {
            throw TestFailure("first frame was \(connected)")
        }
        return Connected(client: client, id: id)
    }

    @Test("a client message becomes one stream entry with every field, data byte for byte, and ack follows it")
    func entryThenAck() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url, upstream: .stream())
        let probe = try await RedisProbe.connect(redis)
        let alice = try await Self.connect(node)

        try await alice.client.sendText(#"{"type":"sendMessage","id":"r1","data":{"conversation_id":"c1","text":"h\u00e9","n":1.50}}"#)
        let ack = try await alice.client.next()
        #expect(ack["type"] as? String == "ack" && ack["ref"] as? String == "r1", "\(ack)")
        // The ack comes after the XADD: the entry is there when the client hears it.
        let entries = try await probe.entries("herald:upstream")
        #expect(entries.count == 1)
        let fields = entries.first?.fields ?? [:]
        #expect(fields["account"] == "42" && fields["user"] == "alice" && fields["connection"] == alice.id)
        #expect(fields["node"].map { alice.id.hasPrefix($0 + "-") } == true)
        #expect(fields["id"] == #""r1""#)
        #expect(fields["type"] == "sendMessage")
        #expect(fields["data"] == #"{"conversation_id":"c1","text":"h\u00e9","n":1.50}"#)
        let receivedAt = fields["received_at"].flatMap { UInt64($0) } ?? 0
        #expect(abs(Double(receivedAt) - Date().timeIntervalSince1970 * 1000) < 60_000)

        // Without an id: stored, and nothing is sent back; an integer id comes back as an integer.
        try await alice.client.sendText(#"{"type":"markAsRead","data":{"conversation_id":"c1"}}"#)
        try await alice.client.sendText(#"{"type":"markAsRead","id":17}"#)
        let second = try await alice.client.next()
        #expect(second["type"] as? String == "ack" && second["ref"] as? Int == 17, "\(second)")
        let all = try await probe.entries("herald:upstream")
        #expect(all.count == 3)
        #expect(all.map { $0.fields["id"] } == [#""r1""#, nil, "17"])
        #expect(all.map { $0.fields["data"] } == [fields["data"], #"{"conversation_id":"c1"}"#, "null"])
        #expect(await alice.client.drainJSON().isEmpty)

        await alice.client.close()
        await probe.close()
        await node.stop()
    }

    @Test("split streams keep each account on one stream; caps trim by length")
    func splitAndCapped() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let key = UpstreamStreamKey(base: "herald:upstream", shards: 4)
        let node = try await RunningNode.start(redisURL: redis.url, upstream: .stream(key, StreamCaps(maxLength: 10, maxAge: .hours(1)))) {
            $0.clientMessagesPerSecond = 10_000
            $0.clientMessageBurst = 10_000
        }
        let probe = try await RedisProbe.connect(redis)
        var sent: [String: Int] = [:]
        for account in ["1", "2", "3", "4", "5", "6"] {
            let client = try await Self.connect(node, account: account)
            try await client.client.sendText(#"{"type":"x","id":1}"#)
            #expect(try await client.client.next()["type"] as? String == "ack")
            sent[key.key(for: account), default: 0] += 1
            await client.client.close()
        }
        for stream in key.all {
            let accounts = try await probe.entries(stream).compactMap { $0.fields["account"] }
            #expect(accounts.count == sent[stream, default: 0])
            #expect(accounts.allSatisfy { key.key(for: $0) == stream })
        }
        // MAXLEN ~ 10: a flood stays near the cap (Redis trims whole nodes of 100 entries).
        let client = try await Self.connect(node)
        for index in 0..<300 {
            try await client.client.sendText(#"{"type":"x","id":\#(index)}"#)
            if index % 30 == 29 { for _ in 0..<30 { _ = try await client.client.next() } }
        }
        let length = try await probe.length(key.key(for: "42"))
        #expect(length > 0 && length < 300, "XLEN \(length)")
        await client.client.close()
        await probe.close()
        await node.stop()
    }

    @Test("Redis down: unavailable with ref and nothing stored; after Redis returns a retry is acked once")
    func redisDown() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url, upstream: .stream())
        let alice = try await Self.connect(node)
        try await alice.client.sendText(#"{"type":"sendMessage","id":"warm-up"}"#)
        #expect(try await alice.client.next()["type"] as? String == "ack")

        redis.kill()
        try await alice.client.sendText(#"{"type":"sendMessage","id":"m1","data":{"text":"hi"}}"#)
        let refused = try await alice.client.next(timeout: .seconds(10))
        #expect(refused["type"] as? String == "error" && refused["code"] as? String == "unavailable" && refused["ref"] as? String == "m1", "\(refused)")
        #expect(!alice.client.isClosed)

        try await redis.restart()
        try await node.waitUntilReady()
        // The client retries until acked (bounded); every refusal stored nothing.
        var answer: [String: Any] = [:]
        var attempts = 0
        for _ in 0..<100 {
            attempts += 1
            try await alice.client.sendText(#"{"type":"sendMessage","id":"m1","data":{"text":"hi"}}"#)
            // The node may tell the client its history was lost with Redis: that is not the answer.
            repeat { answer = try await alice.client.next(timeout: .seconds(10)) } while answer["type"] as? String == "recovery"
            if answer["type"] as? String == "ack" { break }
            #expect(answer["code"] as? String == "unavailable")
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(answer["type"] as? String == "ack" && answer["ref"] as? String == "m1", "\(answer) after \(attempts) attempts")
        let probe = try await RedisProbe.connect(redis)
        let entries = try await probe.entries("herald:upstream")
        #expect(entries.count == 1, "\(entries)")
        #expect(entries.first?.fields["id"] == #""m1""#)
        // Nothing else answers m1 (the node may tell the client its history was lost with Redis).
        let rest = await alice.client.drainJSON()
        #expect(rest.allSatisfy { $0["type"] as? String == "recovery" }, "\(rest)")
        await alice.client.close()
        await probe.close()
        await node.stop()
    }

    @Test("request/response: 100 concurrent requests from 10 connections on 2 nodes each get exactly their own reply")
    func requestResponse() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodes = [
            try await RunningNode.start(redisURL: redis.url, upstream: .stream()),
            try await RunningNode.start(redisURL: redis.url, upstream: .stream()),
        ]
        let probe = try await RedisProbe.connect(redis)
        try await probe.createGroup("herald:upstream", "workers")
        // Five users, each with one connection on each node: a reply that leaked to the user
        // (rather than the connection) would show up on the other node.
        var connections: [Connected] = []
        for user in 0..<5 {
            for node in nodes { connections.append(try await Self.connect(node, user: "u\(user)")) }
        }
        try await probe.waitForSubscribers(account: "42", count: 2)
        for connection in connections { _ = await connection.client.drain(quiet: .milliseconds(100)) }

        let worker = Task { try await probe.answerRequests(stream: "herald:upstream", group: "workers", count: 100) }
        let received = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask {
                    try await withThrowingTaskGroup(of: Void.self) { sends in
                        for request in 0..<10 {
                            sends.addTask {
                                try await connection.client.sendText(#"{"type":"dashboard.query","id":"c\#(index)-r\#(request)","data":{"q":\#(request)}}"#)
                            }
                        }
                        try await sends.waitForAll()
                    }
                    var frames: [String] = []
                    for _ in 0..<20 { frames.append(try await connection.client.nextText(timeout: .seconds(15))) }
                    frames += await connection.client.drain(quiet: .milliseconds(500)).compactMap(\.text)
                    return (index, frames)
                }
            }
            var all: [Int: [String]] = [:]
            for try await (index, frames) in group { all[index] = frames }
            return all
        }
        #expect(try await worker.value == 100)
        for (index, connection) in connections.enumerated() {
            let frames = (received[index] ?? []).compactMap { text in
                (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            }.filter { !TestWebSocketClient.isPresence($0) }
            let expected = Set((0..<10).map { "c\(index)-r\($0)" })
            let acks = frames.filter { $0["type"] as? String == "ack" }.compactMap { $0["ref"] as? String }
            let replies = frames.filter { $0["type"] as? String == "reply" }
            #expect(Set(acks) == expected && acks.count == 10, "connection \(index) acks \(acks)")
            #expect(Set(replies.compactMap { $0["ref"] as? String }) == expected && replies.count == 10, "connection \(index) replies \(replies)")
            #expect(replies.allSatisfy { ($0["connection"] as? String) == connection.id })
            #expect(replies.allSatisfy { reply in
                let ref = reply["ref"] as? String ?? ""
                let request = Int(ref.split(separator: "r").last ?? "") ?? -1
                return ((reply["data"] as? [String: Any])?["q"] as? Int) == request
            })
            #expect(frames.count == 20, "connection \(index) got \(frames.count) frames")
        }
        for connection in connections { await connection.client.close() }
        await probe.close()
        for node in nodes { await node.stop() }
    }

    @Test("a connection target reaches that connection alone, from raw PUBLISH, FCALL and the HTTP API, and fails closed")
    func connectionTargeting() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url, upstream: .stream())
        let probe = try await RedisProbe.connect(redis)
        let first = try await Self.connect(node)
        let second = try await Self.connect(node)
        let other = try await Self.connect(node, account: "43")
        try await probe.waitForSubscribers(account: "42", count: 1)
        try await probe.waitForSubscribers(account: "43", count: 1)
        for client in [first, second, other] { _ = await client.client.drain(quiet: .milliseconds(100)) }

        _ = try await probe.publish(account: "42", #"{"type":"reply","connection":"\#(first.id)","ref":"raw","data":1}"#)
        let stored = try await probe.connection.send("FCALL", "herald_publish", "1", "herald:{42}", #"{"type":"reply","connection":"\#(first.id)","ref":"fcall"}"#).get()
        #expect(stored.string?.contains(":") == true)
        let api = try await node.publish(#"{"account":"42","type":"reply","connection":"\#(first.id)","ref":7,"data":{"ok":true}}"#)
        #expect(api.status == 200)
        // Fail closed: the wrong JSON type, an unknown id, another account's connection, another user.
        for payload in [
            #"{"type":"reply","connection":7}"#, #"{"type":"reply","connection":null}"#, #"{"type":"reply","connection":["\#(first.id)"]}"#,
            #"{"type":"reply","connection":"\#(first.id)x"}"#, #"{"type":"reply","connection":"\#(first.id)","user":"bob"}"#,
        ] {
            _ = try await probe.publish(account: "42", payload)
        }
        _ = try await probe.publish(account: "43", #"{"type":"reply","connection":"\#(first.id)"}"#)
        do {
            _ = try await probe.connection.send("FCALL", "herald_publish", "1", "herald:{42}", #"{"type":"reply","connection":7}"#).get()
            Issue.record("herald_publish stored a numeric connection target")
        } catch {
            #expect("\(error)".contains("'connection' must be a string"), "\(error)")
        }
        _ = try await probe.publish(account: "42", #"{"type":"sentinel"}"#)

        let got = await first.client.drainJSON().compactMap { $0["ref"].map { "\($0)" } ?? $0["type"] as? String }
        #expect(got == ["raw", "fcall", "7", "sentinel"])
        #expect(await second.client.drainJSON().compactMap { $0["type"] as? String } == ["sentinel"])
        #expect(await other.client.drainJSON().isEmpty)
        let metrics = try await TestHTTPClient.request(.GET, port: node.port, path: "/metrics").body
        #expect(metrics.contains(#"herald_events_rejected_total{reason="invalid_target"} 3"#), "\(metrics)")
        for client in [first, second, other] { await client.client.close() }
        await probe.close()
        await node.stop()
    }

    @Test("the lifecycle stream gets every connection open and close, and each user-level join and leave once")
    func lifecycle() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let nodes = [
            try await RunningNode.start(redisURL: redis.url, lifecycleStream: "herald:lifecycle"),
            try await RunningNode.start(redisURL: redis.url, lifecycleStream: "herald:lifecycle"),
        ]
        let probe = try await RedisProbe.connect(redis)
        let tabs = [try await Self.connect(nodes[0]), try await Self.connect(nodes[1]), try await Self.connect(nodes[1], user: "bob")]
        for tab in tabs { await tab.client.close() }
        var events: [[String: String]] = []
        for _ in 0..<100 {
            events = try await probe.entries("herald:lifecycle").map(\.fields)
            if events.count >= 10 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        func count(_ kind: String, _ user: String) -> Int { events.filter { $0["event"] == kind && $0["user"] == user }.count }
        #expect(count("connection.open", "alice") == 2 && count("connection.close", "alice") == 2)
        #expect(count("presence.join", "alice") == 1 && count("presence.leave", "alice") == 1)
        #expect(count("connection.open", "bob") == 1 && count("presence.join", "bob") == 1 && count("presence.leave", "bob") == 1)
        #expect(events.count == 10, "\(events)")
        let opens = events.filter { $0["event"] == "connection.open" }
        #expect(Set(opens.compactMap { $0["connection"] }) == Set(tabs.map(\.id)))
        #expect(events.allSatisfy { $0["account"] == "42" && $0["at"].flatMap(UInt64.init) != nil })
        await probe.close()
        for node in nodes { await node.stop() }
    }
}

/// Stream reads and a small request/response worker on the test's raw Redis connection.
extension RedisProbe {
    struct Entry {
        var id: String
        var fields: [String: String]
    }

    func entries(_ stream: String) async throws -> [Entry] {
        let reply = try await connection.send("XRANGE", stream, "-", "+").get()
        return (reply.array ?? []).compactMap(Self.entry)
    }

    func length(_ stream: String) async throws -> Int64 {
        try await connection.send("XLEN", stream).get().int ?? 0
    }

    func createGroup(_ stream: String, _ group: String) async throws {
        _ = try await connection.send("XGROUP", "CREATE", stream, group, "$", "MKSTREAM").get()
    }

    static func entry(_ value: RESPValue) -> Entry? {
        guard let parts = value.array, parts.count == 2, let id = parts[0].string, let flat = parts[1].array else { return nil }
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: flat.count - 1, by: 2) {
            if let name = flat[index].string, let value = flat[index + 1].string { fields[name] = value }
        }
        return Entry(id: id, fields: fields)
    }

    /// Reads requests as a consumer group member and answers each with a `reply` to its
    /// connection (alternately by raw PUBLISH and by herald_publish), echoing its data; acks each
    /// entry after its reply went out. Returns how many it answered (bounded by a deadline).
    func answerRequests(stream: String, group: String, count: Int) async throws -> Int {
        var answered = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while answered < count, ContinuousClock.now < deadline {
            let reply = try await connection.send("XREADGROUP", "GROUP", group, "worker-1", "COUNT", "50", "STREAMS", stream, ">").get()
            let entries = (reply.array?.first?.array?[1].array ?? []).compactMap(Self.entry)
            if entries.isEmpty {
                try await Task.sleep(for: .milliseconds(10))
                continue
            }
            for entry in entries {
                let fields = entry.fields
                guard let account = fields["account"], let connectionID = fields["connection"], let id = fields["id"], let data = fields["data"] else {
                    throw TestFailure("entry without its fields: \(fields)")
                }
                let event = #"{"type":"reply","connection":"\#(connectionID)","ref":\#(id),"data":\#(data)}"#
                if answered % 2 == 0 {
                    _ = try await publish(account: account, event)
                } else {
                    _ = try await connection.send("FCALL", "herald_publish", "1", "herald:{\(account)}", event).get()
                }
                _ = try await connection.send("XACK", stream, group, entry.id).get()
                answered += 1
            }
        }
        return answered
    }
}
