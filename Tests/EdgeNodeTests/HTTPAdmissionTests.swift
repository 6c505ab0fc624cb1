import Foundation
import HeraldTestSupport
import Testing

/// The route table decides on the head alone: a wrong key, a wrong method or an announced body
/// over the limit is answered at once, without waiting for (or reading) the body.
@Suite("HTTP admission on the head")
struct HTTPAdmissionTests {
    @Test("a wrong key announcing a 1 MiB body gets 401 at once; an oversized body 413; a wrong method 405")
    func refusedBeforeTheBody() async throws {
        let node = try await RunningNode.start { $0.maxRequestBodyBytes = 64 * 1024 }
        let cases: [(String, [(String, String)], Int)] = [
            ("/api/v1/publish", [("authorization", "Bearer wrong"), ("content-length", "1048576")], 401),
            ("/api/v1/publish/batch", [("content-length", "1048576")], 401),
            ("/api/v1/publish", [("authorization", "Bearer \(Fixture.apiKey)"), ("content-length", "1048576")], 413),
        ]
        for (path, headers, status) in cases {
            let started = ContinuousClock.now
            let response = try await TestHTTPClient.request(.POST, port: node.port, path: path, headers: headers, bodyBytes: nil, headOnly: true, timeout: .seconds(5))
            #expect(response.status == status, "\(path) \(headers)")
            #expect(ContinuousClock.now - started < .seconds(1), "\(path): answered only after \(ContinuousClock.now - started)")
            #expect(response.json?["error"] != nil)
        }
        let wrongMethod = try await TestHTTPClient.request(.DELETE, port: node.port, path: "/api/v1/publish")
        #expect(wrongMethod.status == 405)
        let unknown = try await TestHTTPClient.request(.GET, port: node.port, path: "/api/v2/nothing")
        #expect(unknown.status == 404)
        let presence = try await TestHTTPClient.request(.GET, port: node.port, path: "/api/v1/accounts/bad%7Bid/presence", headers: [("authorization", "Bearer \(Fixture.apiKey)")])
        #expect(presence.status == 400)
        await node.stop()
    }
}

@Suite("Upgrades on reused keep-alive connections")
struct KeepAliveUpgradeTests {
    @Test("a WebSocket upgrade after other requests on the same connection (as HAProxy reuses them) is upgraded, not refused with 426")
    func upgradeAfterKeepAliveRequests() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token()
        let connection = try await TestRawConnection.connect(port: node.port)
        try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answers = try await connection.receive { $0.components(separatedBy: "HTTP/1.1 200").count == 3 }
        #expect(answers.components(separatedBy: "HTTP/1.1 200").count == 3, "\(answers)")
        try await connection.send(
            "GET /ws?token=\(token) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        let upgraded = try await connection.receive { $0.contains(#""type":"connected""#) }
        #expect(upgraded.contains("HTTP/1.1 101"), "\(upgraded)")
        #expect(upgraded.contains(#""type":"connected""#))
        await connection.close()
        await node.stop()
    }

    @Test("a refused upgrade after a keep-alive request gets its refusal once, not offered to a second upgrade handler")
    func refusedUpgradeAfterKeepAliveRequest() async throws {
        let node = try await RunningNode.start()
        let connection = try await TestRawConnection.connect(port: node.port)
        try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try await connection.receive { $0.contains("HTTP/1.1 200") }
        try await connection.send(
            "GET /ws?token=not-a-token HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        let refused = try await connection.receive { $0.contains("HTTP/1.1 401") && $0.contains("}") }
        #expect(refused.contains("HTTP/1.1 401"), "\(refused)")
        let after = try await connection.receive(until: { _ in false }, timeout: .milliseconds(300))
        #expect(after.components(separatedBy: "HTTP/1.1 401").count == 2, "one refusal: \(after)")
        await connection.close()
        await node.stop()
    }
}
