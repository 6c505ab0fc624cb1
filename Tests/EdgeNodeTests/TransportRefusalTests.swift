import Foundation
import HeraldTestSupport
import NIOHTTP1
import Testing

/// SSE and Engine.IO requests a node refuses or answers without a stream, over real sockets (the
/// streams themselves are shown with real clients by Tests/Transports).
@Suite("SSE and Socket.IO refusals over real sockets", .serialized)
struct TransportRefusalTests {
    private func poll(_ node: RunningNode, _ query: String, method: HTTPMethod = .GET, body: String? = nil) async throws -> TestHTTPClient.Response {
        try await TestHTTPClient.request(method, port: node.port, path: "/socket.io/?\(query)", headers: [("origin", "https://app.example")], body: body)
    }

    /// An Engine.IO handshake: the session id and the open packet's fields.
    private func handshake(_ node: RunningNode) async throws -> (sid: String, open: [String: Any]) {
        let response = try await poll(node, "EIO=4&transport=polling")
        #expect(response.status == 200)
        #expect(response.headers.contains { $0.0.lowercased() == "access-control-allow-origin" && $0.1 == "https://app.example" })
        #expect(response.body.hasPrefix("0"))
        let open = try #require(try JSONSerialization.jsonObject(with: Data(response.body.dropFirst().utf8)) as? [String: Any])
        return (try #require(open["sid"] as? String), open)
    }

    @Test("SSE without a valid token is a JSON 401; a post needs a token and a stream of its own")
    func sseRefusals() async throws {
        let node = try await RunningNode.start()
        var response = try await TestHTTPClient.request(.GET, port: node.port, path: "/sse")
        #expect(response.status == 401 && response.json?["error"] as? String == "unauthorized")
        response = try await TestHTTPClient.request(.GET, port: node.port, path: "/sse?token=nope")
        #expect(response.status == 401)
        response = try await TestHTTPClient.request(.GET, port: node.port, path: "/sse?token=\(try await Fixture.token())&channels=secret")
        #expect(response.status == 403 && response.json?["error"] as? String == "channel_forbidden")
        response = try await TestHTTPClient.request(.POST, port: node.port, path: "/sse/messages?connection_id=x", body: #"{"type":"ping"}"#)
        #expect(response.status == 401)
        response = try await TestHTTPClient.request(
            .POST, port: node.port, path: "/sse/messages?token=\(try await Fixture.token())", body: #"{"type":"ping"}"#)
        #expect(response.status == 400)
        response = try await TestHTTPClient.request(
            .POST, port: node.port, path: "/sse/messages?connection_id=nobody-1&token=\(try await Fixture.token())", body: #"{"type":"ping"}"#)
        #expect(response.status == 404 && response.json?["error"] as? String == "unknown_connection")
        response = try await TestHTTPClient.request(.OPTIONS, port: node.port, path: "/sse/messages", headers: [("origin", "https://app.example")])
        #expect(response.status == 204)
        #expect(response.headers.contains { $0.0.lowercased() == "access-control-allow-headers" && $0.1.contains("authorization") })
        await node.stop()
    }

    @Test("Engine.IO: version, transport and session are checked; the open packet names the timing")
    func engineIORefusals() async throws {
        let node = try await RunningNode.start { $0.heartbeatSeconds = 7 }
        var response = try await poll(node, "EIO=3&transport=polling")
        #expect(response.status == 400 && response.json?["code"] as? Int == 5)
        response = try await poll(node, "EIO=4&transport=flash")
        #expect(response.status == 400 && response.json?["code"] as? Int == 0)
        response = try await poll(node, "EIO=4&transport=polling&sid=unknown")
        #expect(response.status == 400 && response.json?["code"] as? Int == 1)
        response = try await poll(node, "EIO=4&transport=websocket")  // no Upgrade header
        #expect(response.status == 400)
        let (_, open) = try await handshake(node)
        #expect(open["pingInterval"] as? Int == 7000 && open["pingTimeout"] as? Int == 7000)
        #expect(open["upgrades"] as? [String] == ["websocket"])
        await node.stop()
    }

    @Test("CONNECT: other namespaces and bad tokens get connect_error; the session stays for another try")
    func connectRefusals() async throws {
        let node = try await RunningNode.start()
        let (sid, _) = try await handshake(node)
        let query = "EIO=4&transport=polling&sid=\(sid)"
        #expect(try await poll(node, query, method: .POST, body: "40/admin,{}").body == "ok")
        var answer = try await poll(node, query)
        #expect(answer.body.hasPrefix("44/admin,{"))
        #expect(try await poll(node, query, method: .POST, body: #"40{"token":"bad"}"#).body == "ok")
        answer = try await poll(node, query)
        #expect(answer.body.hasPrefix("44{") && answer.body.contains(#""error":"unauthorized""#))
        let token = try await Fixture.token(user: "sio")
        #expect(try await poll(node, query, method: .POST, body: #"40{"token":"\#(token)"}"#).body == "ok")
        answer = try await poll(node, query)
        let packets = answer.body.split(separator: "\u{1E}").map(String.init)
        #expect(packets.first?.hasPrefix(#"40{"sid":""#) == true)
        #expect(packets.dropFirst().first?.hasPrefix(#"42["connected",{"#) == true)
        // Binary attachments are not supported: the server disconnects the socket, then closes.
        #expect(try await poll(node, query, method: .POST, body: #"451-["upload",{"_placeholder":true,"num":0}]"#).body == "ok")
        answer = try await poll(node, query)
        #expect(answer.body.contains("41") && answer.body.hasSuffix("1"))
        #expect(try await poll(node, query).status == 400)  // the session is gone
        await node.stop()
    }

    @Test("a second poll while one waits breaks the protocol and ends the session")
    func overlappingPolls() async throws {
        let node = try await RunningNode.start()
        let (sid, _) = try await handshake(node)
        let query = "EIO=4&transport=polling&sid=\(sid)"
        async let first = poll(node, query)
        try await Task.sleep(for: .milliseconds(200))
        let second = try await poll(node, query)
        #expect(second.status == 400)
        #expect(try await first.body == "1")  // the waiting poll is answered with the close
        await node.stop()
    }
}
