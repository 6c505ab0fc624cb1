import Foundation
import HeraldTestSupport
import NIOWebSocket
import Testing

/// The WebSocket protocol over real sockets: pings, bad frames, floods, idle timeout, and the
/// HTTP API's refusals. None of it may disturb another client.
@Suite("Client protocol over real sockets", .serialized)
struct ClientProtocolIntegrationTests {
    @Test("JSON ping, bare ping and WebSocket ping frames are answered")
    func pings() async throws {
        let node = try await RunningNode.start()
        let client = try await node.connect(token: try await Fixture.token())
        try await client.sendText(#"{"type":"ping","id":7}"#)
        let pong = try await client.next()
        #expect(pong["type"] as? String == "pong")
        #expect(pong["ref"] as? Int == 7)
        try await client.sendText("ping")
        #expect(try await client.nextText() == "pong")
        try await client.sendFrame(opcode: .ping, data: Array("hi".utf8))
        #expect(try await client.receive() == .pong(Array("hi".utf8)))
        await client.close()
        await node.stop()
    }

    @Test("bad frames get error frames or close codes; other clients are unaffected")
    func badFrames() async throws {
        let node = try await RunningNode.start { $0.maxClientMessageBytes = 4096 }
        let bystander = try await node.connect(token: try await Fixture.token(user: "bystander"))
        let client = try await node.connect(token: try await Fixture.token(channels: ["inbox"]))

        try await client.sendText("{not json")
        var answer = try await client.next()
        #expect(answer["type"] as? String == "error")
        #expect(answer["code"] as? String == "malformed_message")

        try await client.sendText(#"{"type":"launch.rockets","id":"r1"}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "unknown_type")
        #expect(answer["ref"] as? String == "r1")

        try await client.sendText(#"{"type":"subscribe","channel":"secret","id":2}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "channel_forbidden")
        #expect(answer["ref"] as? Int == 2)

        try await client.sendText(#"{"type":"subscribe","channel":""}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "invalid_channel")

        try await client.sendText(#"{"id":5}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "malformed_message")
        #expect(answer["ref"] as? Int == 5)

        // Still usable after errors.
        try await client.sendText(#"{"type":"ping"}"#)
        #expect(try await client.next()["type"] as? String == "pong")

        // Oversized frame: 1009.
        try await client.sendText(String(repeating: "a", count: 10_000))
        #expect(try await client.waitForClose() == 1009)

        // Binary frame: 1003.
        let binary = try await node.connect(token: try await Fixture.token())
        try await binary.sendBinary([1, 2, 3])
        #expect(try await binary.waitForClose() == 1003)

        _ = try await node.publish(#"{"account":"42","type":"still.here"}"#)
        #expect(await bystander.drainJSON().map { $0["type"] as? String } == ["still.here"])
        await bystander.close()
        await node.stop()
    }

    @Test("a flood gets one rate_limited error, then a 1008 close")
    func flood() async throws {
        // One token a second: a flood that reaches the node slowly (a loaded machine) must not earn
        // a token back halfway, which would end the refusal streak and report it a second time.
        let node = try await RunningNode.start {
            $0.clientMessagesPerSecond = 1
            $0.clientMessageBurst = 5
        }
        let client = try await node.connect(token: try await Fixture.token())
        for _ in 0..<40 { try? await client.sendText(#"{"type":"ping"}"#) }
        var pongs = 0
        var limited = 0
        var closeCode: UInt16?
        receiving: for _ in 0..<100 {
            switch try await client.receive() {
            case .text(let text) where text.contains("pong"): pongs += 1
            case .text(let text) where text.contains("rate_limited"): limited += 1
            case .close(let code, _):
                closeCode = code
                break receiving
            default: break
            }
        }
        #expect(pongs >= 5 && pongs < 10)
        #expect(limited == 1)
        #expect(closeCode == 1008)
        await node.stop()
    }

    @Test("a connection silent for two heartbeats is closed with 4000")
    func idleTimeout() async throws {
        let node = try await RunningNode.start { $0.heartbeatSeconds = 1 }
        let silent = try await node.connect(token: try await Fixture.token())
        let talker = try await node.connect(token: try await Fixture.token(user: "talker"))
        let start = ContinuousClock.now
        for _ in 0..<6 {
            try await talker.sendText("ping")
            _ = try await talker.nextText()
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(try await silent.waitForClose(timeout: .seconds(5)) == 4000)
        #expect(ContinuousClock.now - start >= .seconds(2))
        #expect(!talker.isClosed)
        await talker.close()
        await node.stop()
    }

    @Test("HTTP API: bad key 401, malformed body 400, unknown route 404, health endpoints")
    func httpAPI() async throws {
        let node = try await RunningNode.start()
        var response = try await node.publish(#"{"account":"42","type":"x"}"#, key: "wrong-key")
        #expect(response.status == 401)
        #expect(response.json?["error"] as? String == "unauthorized")

        response = try await TestHTTPClient.request(.POST, port: node.port, path: "/api/v1/publish", body: #"{"account":"42","type":"x"}"#)
        #expect(response.status == 401)

        for body in ["{oops", #"{"type":"x"}"#, #"{"account":"4{2}","type":"x"}"#, #"{"account":"42"}"#, #"{"account":"42","type":""}"#, "[1,2]", #"{"account":"42","type":"x","channel":"has space"}"#] {
            response = try await node.publish(body)
            #expect(response.status == 400, "body \(body)")
            #expect(response.json?["error"] as? String == "bad_request")
        }

        response = try await TestHTTPClient.request(.GET, port: node.port, path: "/nope")
        #expect(response.status == 404)
        #expect(response.json?["error"] as? String == "not_found")
        response = try await TestHTTPClient.request(.GET, port: node.port, path: "/api/v1/publish")
        #expect(response.status == 405)
        response = try await TestHTTPClient.request(.GET, port: node.port, path: "/healthz")
        #expect(response.status == 200)
        response = try await TestHTTPClient.request(.GET, port: node.port, path: "/readyz")
        #expect(response.status == 200)

        let big = String(repeating: "a", count: 2 << 20)
        response = try await node.publish(#"{"account":"42","type":"x","data":"\#(big)"}"#)
        #expect(response.status == 413)

        let client = try await node.connect(token: try await Fixture.token())
        response = try await TestHTTPClient.request(
            .POST, port: node.port, path: "/api/v1/publish/batch",
            headers: [("authorization", "Bearer \(Fixture.apiKey)")],
            body: #"{"events":[{"account":"42","type":"one"},{"account":"42","type":"two"}]}"#)
        #expect(response.status == 200)
        #expect((response.json?["results"] as? [Any])?.count == 2)
        #expect(await client.drainJSON().map { $0["type"] as? String } == ["one", "two"])
        await client.close()
        await node.stop()
    }

    @Test("SIGTERM-style drain closes clients with 1012 and turns readiness off")
    func drain() async throws {
        let node = try await RunningNode.start()
        let clients = [try await node.connect(token: try await Fixture.token()), try await node.connect(token: try await Fixture.token(user: "bob"))]
        let stopping = Task { await node.stop() }
        for client in clients {
            #expect(try await client.waitForClose(timeout: .seconds(5)) == 1012)
        }
        await stopping.value
    }
}
