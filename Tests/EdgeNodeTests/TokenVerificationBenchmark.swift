@testable import EdgeNode
import Foundation
import HeraldTestSupport
import Logging
import Testing

/// A benchmark, not a test: what verifying a token costs per algorithm (the JWKS keys selected
/// by kid), and how late after `exp` + leeway an expired connection is closed. Run with
/// `HERALD_BENCHMARKS=1 swift test --filter TokenVerificationBenchmark`.
@Suite(
    "Token verification cost", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["HERALD_BENCHMARKS"] != nil, "set HERALD_BENCHMARKS=1 to run benchmarks")
)
struct TokenVerificationBenchmark {
    @Test("microseconds per verify: HS256 secret, RS256 and ES256 from a JWKS URL")
    func verifyCost() async throws {
        let rsa = try await TestSigningKey.rs256(kid: "rsa-1")
        let ec = try await TestSigningKey.es256(kid: "ec-1")
        let server = try await JWKSTestServer.start(document: TestSigningKey.jwks([rsa, ec]))
        var logger = Logger(label: "bench.jwks")
        logger.logLevel = .critical
        let source = try JWKSSource(configuration: .init(url: server.url), logger: logger, metrics: NodeMetrics())
        let task = Task { try await source.run() }
        while !source.isReady { try await Task.sleep(for: .milliseconds(10)) }
        let verifier = try await TokenVerifier(
            AuthenticationConfiguration(hmacSecret: Fixture.secret, jwksURL: server.url, audiences: ["herald"]), jwks: source)
        let tokens = [
            ("HS256", try await Fixture.token(lifetime: 600)),
            ("RS256", try await rsa.token(extra: ["aud": .string("herald")])),
            ("ES256", try await ec.token(extra: ["aud": .string("herald")])),
        ]
        for (name, token) in tokens {
            // HS256 tokens from the fixture carry no aud: verify them with a verifier without one.
            let chosen = name == "HS256" ? try await TokenVerifier(AuthenticationConfiguration(hmacSecret: Fixture.secret)) : verifier
            for _ in 0..<200 { _ = try await chosen.verify(token) }
            let rounds = 3000
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                for _ in 0..<rounds { _ = try await chosen.verify(token) }
            }
            let micros = Double(elapsed.components.attoseconds) / 1e12 / Double(rounds) + Double(elapsed.components.seconds) * 1e6 / Double(rounds)
            print("verify \(name): \(String(format: "%.1f", micros)) µs per token (\(rounds) sequential verifies)")
        }
        task.cancel()
        _ = await task.result
        try await server.stop()
    }

    @Test("milliseconds between exp + leeway and the 4003 close")
    func expiryLag() async throws {
        let node = try await RunningNode.start()
        var lags: [Double] = []
        for _ in 0..<5 {
            let exp = Int(Date().timeIntervalSince1970) - 28
            let client = try await node.connect(token: TestToken.signed(["sub": "alice", "account": "42", "exp": exp]))
            #expect(try await client.waitForClose(timeout: .seconds(6)) == 4003)
            lags.append((Date().timeIntervalSince1970 - Double(exp + 30)) * 1000)
        }
        print("expiry close lag after exp + leeway (ms): \(lags.map { String(format: "%.1f", $0) }.joined(separator: ", "))")
        await node.stop()
    }
}
