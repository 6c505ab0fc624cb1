import Foundation
import HeraldTestSupport
import PubSubBridge
import Testing

/// Account ids as identity providers issue them (`auth0|…`, `org:42`, e-mail addresses) and ones
/// chosen to break key names: every key stays inside its account's hash tag, no two accounts share
/// a key, and no client sees another account's events — checked against a real redis-server.
@Suite("Hostile account ids", .serialized)
struct HostileAccountTests {
    static let accounts = [
        "auth0|5f3c0a9e", "org:42", "ops@example.com", "a", "a:log", "a:presence", "a:presence:users", "x*", "x?[ab]",
        #"q"uote\back"#, "%2F/slash", "tenant,comma", "herald:", String(repeating: "z", count: 128),
    ].filter { !$0.contains("{") }

    /// The hash tag Redis Cluster hashes: between the first `{` and the next `}`.
    private func hashTag(_ key: String) -> String? {
        guard let open = key.firstIndex(of: "{"), let close = key[open...].firstIndex(of: "}") else { return nil }
        return String(key[key.index(after: open)..<close])
    }

    private func body(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("identity-provider ids work, and every key stays in its account's hash tag")
    func keysStayInTheirTag() async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url)
        let probe = try await RedisProbe.connect(redis)
        var clients: [TestWebSocketClient] = []
        for (index, account) in Self.accounts.enumerated() {
            let token = try await Fixture.token(account: account, user: "user-\(index)")
            // Every other client names its account in the path, percent-encoded as a browser would.
            let encoded = account.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? account
            let path = index.isMultiple(of: 2) ? "/ws?token=\(token)" : "/ws/accounts/\(encoded)/?token=\(token)"
            clients.append(try await node.connect(token: token, path: path))
        }
        for account in Self.accounts {
            let response = try await node.publish(body(["account": account, "type": "probe", "data": ["account": account]]))
            #expect(response.status == 200, "\(account): \(response.body)")
        }
        // Each client gets exactly its own account's event.
        for (client, account) in zip(clients, Self.accounts) {
            let events = await client.drainJSON(quiet: .milliseconds(400)).filter { $0["type"] as? String == "probe" }
            #expect(events.count == 1, "\(account)")
            #expect((events.first?["data"] as? [String: Any])?["account"] as? String == account)
        }

        // Typing state too (it lives 3 s, so it is started just before the keys are read).
        for client in clients { try await client.sendText(#"{"type":"typing.start","conversation_id":"c1","id":1}"#) }
        for client in clients { _ = try await client.next() }

        // Every key Redis holds, by SCAN and by KEYS.
        var keys: Set<String> = []
        var cursor = "0"
        repeat {
            let reply = try await probe.connection.send("SCAN", cursor, "MATCH", "*", "COUNT", "1000").get()
            guard let parts = reply.array, parts.count == 2 else { throw TestFailure("SCAN answered \(reply)") }
            cursor = parts[0].string ?? "0"
            for key in parts[1].array ?? [] { if let key = key.string { keys.insert(key) } }
        } while cursor != "0"
        let listed = try await probe.connection.send("KEYS", "*").get().array?.compactMap(\.string) ?? []
        #expect(Set(listed) == keys)

        let suffixes: Set<String> = [":log", ":epoch", ":presence", ":presence:users", ":typing"]
        var expected: Set<String> = []
        for account in Self.accounts {
            for suffix in suffixes { expected.insert("herald:{\(account)}\(suffix)") }
        }
        #expect(keys == expected)
        for key in keys {
            let tag = hashTag(key)
            #expect(tag.map { Self.accounts.contains($0) } == true, "\(key) is outside every account's tag")
            if let tag { #expect(suffixes.contains(String(key.dropFirst("herald:{\(tag)}".count))), "\(key)") }
        }
        // One history entry per account: no two accounts share a stream.
        for account in Self.accounts {
            let length = try await probe.connection.send("XLEN", "herald:{\(account)}:log").get()
            #expect(length.int == 1, "\(account)")
        }
        // The presence endpoint reads the account named (percent-encoded) in its path.
        let encoded = "auth0|5f3c0a9e".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let presence = try await TestHTTPClient.request(
            .GET, port: node.port, path: "/api/v1/accounts/\(encoded)/presence", headers: [("authorization", "Bearer \(Fixture.apiKey)")])
        #expect(presence.status == 200)
        #expect(presence.json?["account"] as? String == "auth0|5f3c0a9e")
        #expect((presence.json?["users"] as? [[String: Any]])?.map { $0["user"] as? String } == ["user-0"])

        for client in clients { await client.close() }
        await probe.close()
        await node.stop()
    }

    @Test("ids with braces, spaces or control characters, or over 128 bytes, are refused everywhere")
    func refusedIds() async throws {
        let node = try await RunningNode.start()
        for account in ["a}b", "{x}", "with space", "tab\there", String(repeating: "z", count: 129), "é"] {
            let token = try await Fixture.token(account: account)
            #expect(try await node.refusal(path: "/ws?token=\(token)").status == 401, "\(account)")
            let response = try await node.publish(body(["account": account, "type": "probe"]))
            #expect(response.status == 400)
        }
        await node.stop()
    }
}
