@testable import EdgeNode
import Foundation
import HeraldProtocol
import HeraldTestSupport
import Logging
import Testing

/// Tokens verified against a JWKS served over HTTP by a real server on loopback: rotation,
/// claims, floods of unknown `kid`s, algorithm/key-type mismatches, failed refreshes.
@Suite("JWKS over HTTP", .serialized)
struct JWKSVerificationTests {
    /// A running source for `server` and a verifier over it; call `stop` at the end.
    private struct Running {
        let source: JWKSSource
        let verifier: TokenVerifier
        let metrics: NodeMetrics
        let task: Task<Void, any Error>

        func stop() async {
            task.cancel()
            _ = await task.result
        }
    }

    private func start(
        _ server: JWKSTestServer, minimum: Duration = .seconds(60), refresh: Duration = .seconds(600),
        _ customize: (inout AuthenticationConfiguration) -> Void = { _ in }
    ) async throws -> Running {
        var configuration = AuthenticationConfiguration(
            jwksURL: server.url, jwksRefreshInterval: refresh, jwksMinimumRefreshInterval: minimum)
        customize(&configuration)
        var logger = Logger(label: "test.jwks")
        logger.logLevel = ProcessInfo.processInfo.environment["HERALD_TEST_LOG"] == nil ? .critical : .debug
        let metrics = NodeMetrics()
        let source = try JWKSSource(
            configuration: .init(url: server.url, refreshInterval: refresh, minimumRefreshInterval: minimum), logger: logger, metrics: metrics)
        let task = Task { try await source.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while !source.isReady, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(source.isReady)
        return Running(source: source, verifier: try await TokenVerifier(configuration, jwks: source), metrics: metrics, task: task)
    }

    @Test("a rotated key is accepted without a restart, and the removed one refused after the refresh")
    func rotation() async throws {
        let old = try await TestSigningKey.rs256(kid: "2024-old")
        let new = try await TestSigningKey.rs256(kid: "2025-new")
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([old]), cacheControl: "public, max-age=600")
        let running = try await start(server, minimum: .milliseconds(500))

        let oldToken = try await old.token()
        #expect(try await running.verifier.verify(oldToken).identity.user == "alice")
        #expect(server.requestCount == 1)

        // The provider rotates: the new key replaces the old one.
        server.document = TestSigningKey.jwks([new])
        try await Task.sleep(for: .milliseconds(600))
        let newToken = try await new.token(user: "bob")
        #expect(try await running.verifier.verify(newToken).identity.user == "bob")
        #expect(server.requestCount == 2)
        await #expect(throws: AuthenticationError.unknownKey("2024-old")) { try await running.verifier.verify(oldToken) }
        await running.stop()
        try await server.stop()
    }

    @Test("the audience, issuer and not-before claims are checked, each refusal naming its claim")
    func claims() async throws {
        let key = try await TestSigningKey.es256(kid: "ec-1")
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([key]))
        let running = try await start(server) {
            $0.audiences = ["https://api.dialer.example", "herald"]
            $0.issuer = "https://tenant.auth0.example/"
        }
        let issuer: JSONValue = .string("https://tenant.auth0.example/")
        let good = try await key.token(extra: ["aud": .array([.string("other"), .string("herald")]), "iss": issuer])
        #expect(try await running.verifier.verify(good).identity.account == "42")

        let wrongAudience = try await key.token(extra: ["aud": .string("https://another-api.example"), "iss": issuer])
        await #expect(throws: AuthenticationError.invalidClaim("aud")) { try await running.verifier.verify(wrongAudience) }
        let noAudience = try await key.token(extra: ["iss": issuer])
        await #expect(throws: AuthenticationError.missingClaim("aud")) { try await running.verifier.verify(noAudience) }
        let wrongIssuer = try await key.token(extra: ["aud": .string("herald"), "iss": .string("https://evil.example/")])
        await #expect(throws: AuthenticationError.invalidClaim("iss")) { try await running.verifier.verify(wrongIssuer) }
        #expect(AuthenticationError.invalidClaim("iss").description.contains("'iss'"))

        let now = Date().timeIntervalSince1970
        let future = try await key.token(extra: ["aud": .string("herald"), "iss": issuer, "nbf": .number(now + 120)])
        await #expect(throws: AuthenticationError.notYetValid) { try await running.verifier.verify(future) }
        #expect(AuthenticationError.notYetValid.description.contains("'nbf'"))
        // Within the 30 s leeway: a little clock skew is tolerated, on nbf and on exp.
        let skewed = try await key.token(lifetime: -20, extra: ["aud": .string("herald"), "iss": issuer, "nbf": .number(now + 20)])
        #expect(try await running.verifier.verify(skewed).identity.user == "alice")
        let expired = try await key.token(lifetime: -40, extra: ["aud": .string("herald"), "iss": issuer])
        await #expect(throws: AuthenticationError.expired) { try await running.verifier.verify(expired) }
        await running.stop()
        try await server.stop()
    }

    @Test("a flood of unknown kids causes at most one fetch per minimum interval")
    func unknownKeyFlood() async throws {
        let key = try await TestSigningKey.es256(kid: "ec-1")
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([key]))
        let running = try await start(server, minimum: .seconds(1))
        #expect(server.requestCount == 1)

        let verifier = running.verifier
        @Sendable func flood(_ round: Int) async -> Int {
            await withTaskGroup(of: Bool.self, returning: Int.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        let kid = "forged-\(round)-\(index)"
                        do {
                            _ = try await verifier.verify(TestSigningKey.unsigned(alg: "ES256", kid: kid))
                            return false
                        } catch {
                            return (error as? AuthenticationError) == .unknownKey(kid)
                        }
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
        }
        // Within the minimum interval of the start-up fetch: no fetch at all.
        #expect(await flood(0) == 300)
        #expect(server.requestCount == 1)
        // After it: one fetch for the whole flood (single-flight), none for the next flood.
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await flood(1) == 300)
        #expect(server.requestCount == 2)
        #expect(await flood(2) == 300)
        #expect(server.requestCount == 2)
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await flood(3) == 300)
        #expect(server.requestCount == 3)
        #expect(String(decoding: running.metrics.exposition(), as: UTF8.self).contains("herald_jwks_unknown_kid_fetches_total 2"))
        // The known key works throughout.
        #expect(try await verifier.verify(try await key.token()).identity.user == "alice")
        await running.stop()
        try await server.stop()
    }

    @Test("a kid selects one key whose type must match alg; a token without kid meets only keys of its alg")
    func algorithmBinding() async throws {
        let rsa = try await TestSigningKey.rs256(kid: "rsa-1")
        let ec = try await TestSigningKey.es256(kid: "ec-1")
        let unnamed = try await TestSigningKey.es256(kid: nil)
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([rsa, ec, unnamed]))
        let running = try await start(server)
        let verifier = running.verifier

        // The EC key's kid with an RS256 header: refused before any signature check.
        await #expect(throws: AuthenticationError.algorithmMismatch(kid: "ec-1", key: "ES256", token: "RS256")) {
            try await verifier.verify(TestSigningKey.unsigned(alg: "RS256", kid: "ec-1"))
        }
        await #expect(throws: AuthenticationError.algorithmMismatch(kid: "rsa-1", key: "RS256", token: "ES256")) {
            try await verifier.verify(TestSigningKey.unsigned(alg: "ES256", kid: "rsa-1"))
        }
        // HS256 keyed with the RSA key's public modulus (algorithm confusion) never reaches a key.
        await #expect(throws: AuthenticationError.algorithmRefused("HS256")) {
            try await verifier.verify(TestSigningKey.unsigned(alg: "HS256", kid: "rsa-1"))
        }
        // Real tokens of each key verify, with and without kid.
        #expect(try await verifier.verify(try await rsa.token()).identity.user == "alice")
        #expect(try await verifier.verify(try await ec.token()).identity.user == "alice")
        #expect(try await verifier.verify(try await unnamed.token(user: "carol")).identity.user == "carol")
        // A token signed by the EC key but naming the unnamed EC key's... kid-less: tried against ES256 keys only.
        let stranger = try await TestSigningKey.es256(kid: nil)
        await #expect(throws: AuthenticationError.badSignature) { try await verifier.verify(try await stranger.token()) }
        await running.stop()
        try await server.stop()
    }

    @Test("a failed refresh keeps the last good key set, and is counted")
    func failedRefreshKeepsKeys() async throws {
        let key = try await TestSigningKey.es256(kid: "ec-1")
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([key]), cacheControl: "max-age=0")
        let running = try await start(server, minimum: .milliseconds(200), refresh: .seconds(600))
        server.failing = true
        // max-age=0 is floored at the minimum interval: the schedule fetches again (and fails) every 200 ms.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.requestCount < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(server.requestCount >= 3)
        #expect(try await running.verifier.verify(try await key.token()).identity.user == "alice")
        #expect(running.source.isReady)
        #expect(running.source.problem?.contains("500") == true)
        let exposition = String(decoding: running.metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains("herald_jwks_fetch_failures_total") && !exposition.contains("herald_jwks_fetch_failures_total 0"))
        server.failing = false
        await running.stop()
        try await server.stop()
    }

    @Test("plain http is refused for hosts other than loopback")
    func urlRules() throws {
        #expect(throws: ConfigurationError.self) { try JWKSSource.validate(url: "http://idp.example.com/.well-known/jwks.json") }
        #expect(throws: ConfigurationError.self) { try JWKSSource.validate(url: "ftp://127.0.0.1/jwks") }
        #expect(throws: ConfigurationError.self) { try JWKSSource.validate(url: "jwks.json") }
        try JWKSSource.validate(url: "https://tenant.auth0.com/.well-known/jwks.json")
        try JWKSSource.validate(url: "http://127.0.0.1:8000/jwks.json")
        try JWKSSource.validate(url: "http://localhost/jwks.json")
        try JWKSSource.validate(url: "http://[::1]:9/jwks.json")
    }

    @Test("a node is not ready before its first good JWKS fetch, then takes tokens in Sec-WebSocket-Protocol")
    func nodeReadiness() async throws {
        let key = try await TestSigningKey.rs256(kid: "rsa-1")
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([key]))
        server.failing = true
        let node = try await RunningNode.start(ready: false) {
            $0.authentication = AuthenticationConfiguration(jwksURL: server.url, jwksMinimumRefreshInterval: .seconds(1))
        }
        try await Task.sleep(for: .milliseconds(300))
        let notReady = try await TestHTTPClient.request(.GET, port: node.port, path: "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.json?["reason"] as? String == "jwks unavailable")
        let token = try await key.token()
        #expect(try await node.refusal(path: "/ws?token=\(token)").status == 503)
        server.failing = false
        try await node.waitUntilReady(timeout: .seconds(10))
        let client = try await TestWebSocketClient.connect(
            port: node.port, path: "/ws", headers: [("Sec-WebSocket-Protocol", "access_token, \(token)")])
        #expect(client.selectedSubprotocol == "access_token")
        #expect(try await client.next()["type"] as? String == "connected")
        await client.close()
        await node.stop()
        try await server.stop()
    }
}
