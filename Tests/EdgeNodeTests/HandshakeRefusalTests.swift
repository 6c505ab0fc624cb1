import Crypto
import EdgeNode
import Foundation
import HeraldTestSupport
import JWTKit
import Testing

/// Upgrade requests that must be refused with an HTTP status and a JSON body, before any frame.
@Suite("Handshake refusals", .serialized)
struct HandshakeRefusalTests {
    private func refusal(_ node: RunningNode, path: String, headers: [(String, String)] = []) async throws -> HeraldTestSupport.HTTPRefusal {
        try await node.refusal(path: path, headers: headers)
    }

    private func signed(_ claims: [String: Any], header: [String: Any] = ["alg": "HS256", "typ": "JWT"], secret: String = Fixture.secret) -> String {
        TestToken.signed(claims, header: header, secret: secret)
    }

    private var validClaims: [String: Any] {
        ["sub": "alice", "account": "42", "exp": Int(Date().timeIntervalSince1970) + 600]
    }

    @Test("bad tokens, wrong account and disallowed origin are refused with JSON errors")
    func refusals() async throws {
        // HTTP statuses for every refusal, also those with an Origin (BrowserRefusalTests covers the close codes).
        let node = try await RunningNode.start {
            $0.allowedOrigins = ["https://app.example.com"]
            $0.upgradeRefusals = .http
        }
        let bystander = try await node.connect(token: try await Fixture.token(user: "bystander"))

        var refused = try await refusal(node, path: "/ws")
        #expect(refused.status == 401)
        #expect(refused.json?["error"] as? String == "unauthorized")

        refused = try await refusal(node, path: "/ws?token=\(signed(validClaims, secret: "another-secret"))")
        #expect(refused.status == 401)

        var expired = validClaims
        expired["exp"] = Int(Date().timeIntervalSince1970) - 60  // beyond the default 30 s leeway
        refused = try await refusal(node, path: "/ws?token=\(signed(expired))")
        #expect(refused.status == 401)
        #expect(refused.json?["error"] as? String == "token_expired")

        let none = signed(validClaims, header: ["alg": "none", "typ": "JWT"]).split(separator: ".").prefix(2).joined(separator: ".") + "."
        refused = try await refusal(node, path: "/ws?token=\(none)")
        #expect(refused.status == 401)
        #expect((refused.json?["message"] as? String)?.contains("none") == true)

        refused = try await refusal(node, path: "/ws?token=not.a.jwt")
        #expect(refused.status == 401)

        let token43 = try await Fixture.token(account: "43")
        refused = try await refusal(node, path: "/ws/accounts/42/?token=\(token43)")
        #expect(refused.status == 403)
        #expect(refused.json?["error"] as? String == "account_mismatch")

        refused = try await refusal(node, path: "/ws?token=\(try await Fixture.token())", headers: [("Origin", "https://evil.example.com")])
        #expect(refused.status == 403)
        #expect(refused.json?["error"] as? String == "origin_forbidden")

        var noAccount = validClaims
        noAccount["account"] = "bad{account}"
        refused = try await refusal(node, path: "/ws?token=\(signed(noAccount))")
        #expect(refused.status == 401)

        // A plain GET (no upgrade) on the WebSocket path.
        let plain = try await TestHTTPClient.request(.GET, port: node.port, path: "/ws")
        #expect(plain.status == 426)

        // The bystander is unaffected.
        _ = try await node.publish(#"{"account":"42","type":"still.here"}"#)
        #expect(await bystander.drainJSON().map { $0["type"] as? String } == ["still.here"])
        await bystander.close()
        await node.stop()
    }

    @Test("tokens in Authorization, in Sec-WebSocket-Protocol, and on the account path are accepted")
    func tokenPlacements() async throws {
        let node = try await RunningNode.start { $0.allowedOrigins = ["https://app.example.com"] }
        let token = try await Fixture.token()

        let viaAccessToken = try await TestWebSocketClient.connect(
            port: node.port, path: "/ws", headers: [("Sec-WebSocket-Protocol", "access_token, \(token)")])
        #expect(viaAccessToken.selectedSubprotocol == "access_token")
        #expect(try await viaAccessToken.next()["user"] as? String == "alice")
        await viaAccessToken.close()

        let viaHeader = try await node.connect(token: token, path: "/ws", headers: [("Authorization", "Bearer \(token)")])
        let viaProtocol = try await TestWebSocketClient.connect(
            port: node.port, path: "/ws", headers: [("Sec-WebSocket-Protocol", "bearer, \(token)")])
        #expect(viaProtocol.selectedSubprotocol == "bearer")
        let connected = try await viaProtocol.next()
        #expect(connected["account"] as? String == "42")
        #expect(connected["user"] as? String == "alice")
        #expect(connected["heartbeat"] as? Int == 30)
        let viaPath = try await node.connect(token: token, path: "/ws/accounts/42/?token=\(token)", headers: [("Origin", "https://app.example.com")])

        for client in [viaHeader, viaProtocol, viaPath] { await client.close() }
        await node.stop()
    }

    @Test("ES256 tokens verify against a PEM public key; HS256 tokens are then refused")
    func publicKeyTokens() async throws {
        let privateKey = ES256PrivateKey()
        let node = try await RunningNode.start {
            $0.authentication = AuthenticationConfiguration(publicKeyPEM: privateKey.publicKey.pemRepresentation)
        }
        let keys = await JWTKeyCollection().add(ecdsa: privateKey)
        struct Claims: JWTPayload {
            var sub: SubjectClaim
            var account: String
            var exp: ExpirationClaim
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let token = try await keys.sign(Claims(sub: "alice", account: "42", exp: .init(value: Date().addingTimeInterval(600))))
        let client = try await node.connect(token: token)
        await client.close()

        // Algorithm confusion: an HS256 token "signed" with the public key text is refused.
        let confused = signed(validClaims, secret: privateKey.publicKey.pemRepresentation)
        let refused = try await refusal(node, path: "/ws?token=\(confused)")
        #expect(refused.status == 401)
        await node.stop()
    }
}
