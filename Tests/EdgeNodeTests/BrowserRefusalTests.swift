import EdgeNode
import Foundation
import HeraldTestSupport
import Testing

/// Browsers cannot read the HTTP status of a refused upgrade; for them the node accepts the
/// upgrade and closes at once with a 44xx code and a reason.
@Suite("Refusals a browser can see", .serialized)
struct BrowserRefusalTests {
    private let origin = ("Origin", "https://app.example.com")

    /// Connects (the upgrade must succeed) and returns the close frame the node sends first.
    private func closeFrame(_ node: RunningNode, path: String, headers: [(String, String)]) async throws -> (code: UInt16?, reason: String, client: TestWebSocketClient) {
        let client = try await TestWebSocketClient.connect(port: node.port, path: path, headers: headers)
        let message = try await client.receive(timeout: .seconds(3))
        guard case .close(let code, let reason) = message else { throw TestFailure("expected a close frame, got \(message)") }
        return (code, reason, client)
    }

    @Test("with an Origin header, refusals are closes with 4401, 4003 and 4403 and their reasons")
    func browserRefusals() async throws {
        let node = try await RunningNode.start { $0.allowedOrigins = ["https://app.example.com"] }

        var refused = try await closeFrame(node, path: "/ws", headers: [origin])
        #expect(refused.code == 4401)
        #expect(refused.reason.hasPrefix("unauthorized: no token"))
        #expect(refused.reason.utf8.count <= 123)
        #expect(try await refused.client.waitForClose(timeout: .seconds(3)) == 4401)

        refused = try await closeFrame(node, path: "/ws?token=\(TestToken.expiring(in: -300))", headers: [origin])
        #expect(refused.code == 4003)
        #expect(refused.reason.hasPrefix("token_expired"))

        refused = try await closeFrame(node, path: "/ws/accounts/43/?token=\(try await Fixture.token())", headers: [origin])
        #expect(refused.code == 4403)
        #expect(refused.reason.hasPrefix("account_mismatch"))

        refused = try await closeFrame(node, path: "/ws?token=\(try await Fixture.token())", headers: [("Origin", "https://evil.example.com")])
        #expect(refused.code == 4403)
        #expect(refused.reason.hasPrefix("origin_forbidden"))

        refused = try await closeFrame(node, path: "/ws?token=\(try await Fixture.token(channels: ["inbox"]))&channels=kpi", headers: [origin])
        #expect(refused.code == 4403)
        #expect(refused.reason.hasPrefix("channel_forbidden"))

        // A browser that put its (bad) token in the subprotocol gets that subprotocol selected, or
        // it would fail the handshake before seeing the close code.
        let viaProtocol = try await TestWebSocketClient.connect(
            port: node.port, path: "/ws", headers: [origin, ("Sec-WebSocket-Protocol", "access_token, not.a.jwt")])
        #expect(viaProtocol.selectedSubprotocol == "access_token")
        guard case .close(let code, _) = try await viaProtocol.receive(timeout: .seconds(3)) else { throw TestFailure("no close") }
        #expect(code == 4401)

        // Servers and CLIs (no Origin) still get the HTTP status and JSON body.
        let plain = try await node.refusal(path: "/ws")
        #expect(plain.status == 401)
        #expect(plain.json?["error"] as? String == "unauthorized")
        await node.stop()
    }

    @Test("HERALD_UPGRADE_REFUSALS=close closes every refusal; http answers every one with a status")
    func modes() async throws {
        let closing = try await RunningNode.start { $0.upgradeRefusals = .close }
        let refused = try await closeFrame(closing, path: "/ws?token=garbage", headers: [])
        #expect(refused.code == 4401)
        #expect(refused.reason.hasPrefix("unauthorized"))
        await closing.stop()

        let http = try await RunningNode.start { $0.upgradeRefusals = .http }
        #expect(try await http.refusal(path: "/ws?token=garbage", headers: [origin]).status == 401)
        await http.stop()
    }
}
