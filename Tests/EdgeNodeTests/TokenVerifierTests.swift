@testable import EdgeNode
import Foundation
import HeraldProtocol
import Testing

@Suite("Token verification")
struct TokenVerifierTests {
    let secret = String(repeating: "k", count: 32)

    @Test func refusesShortSecrets() async {
        await #expect(throws: ConfigurationError.self) { try await TokenVerifier(AuthenticationConfiguration(hmacSecret: "short")) }
    }

    @Test func claimsAndClock() async throws {
        let verifier = try await TokenVerifier(AuthenticationConfiguration(hmacSecret: secret, accountClaim: "tenant"))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let token = try await DevelopmentToken.mint(
            secret: secret, account: "acme", user: "u1", accountClaim: "tenant", channels: ["inbox"],
            info: .object(["name": .string("Ada")]), lifetime: 60, now: now)
        let verified = try await verifier.verify(token, now: now)
        #expect(verified.identity == ClientIdentity(user: "u1", account: "acme", channels: ["inbox"], info: .object(["name": .string("Ada")])))
        #expect(verified.expiresAt == now.addingTimeInterval(60))
        // The default leeway of 30 s: accepted 89 s later, refused 91 s later.
        _ = try await verifier.verify(token, now: now.addingTimeInterval(89))
        await #expect(throws: AuthenticationError.expired) { try await verifier.verify(token, now: now.addingTimeInterval(91)) }
        let strict = try await TokenVerifier(AuthenticationConfiguration(hmacSecret: secret, accountClaim: "tenant", leewaySeconds: 0))
        await #expect(throws: AuthenticationError.expired) { try await strict.verify(token, now: now.addingTimeInterval(61)) }
        // The default claim name is absent from this token.
        let defaultVerifier = try await TokenVerifier(AuthenticationConfiguration(hmacSecret: secret))
        await #expect(throws: AuthenticationError.missingClaim("account")) { try await defaultVerifier.verify(token, now: now) }
    }

    @Test func refusesUnconfiguredAlgorithms() async throws {
        let verifier = try await TokenVerifier(AuthenticationConfiguration(hmacSecret: secret))
        #expect(verifier.acceptedAlgorithms == ["HS256"])
        await #expect(throws: AuthenticationError.algorithmRefused("none")) {
            try await verifier.verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.")
        }
        await #expect(throws: AuthenticationError.malformedToken) { try await verifier.verify("garbage") }
    }

    @Test func accountIdsFromIdentityProviders() async throws {
        let verifier = try await TokenVerifier(AuthenticationConfiguration(hmacSecret: secret))
        for account in ["auth0|5f3c", "org:42", "ops@example.com"] {
            let token = try await DevelopmentToken.mint(secret: secret, account: account, user: "auth0|abc")
            #expect(try await verifier.verify(token).identity.account == account)
        }
        let braced = try await DevelopmentToken.mint(secret: secret, account: "a}b", user: "u")
        await #expect(throws: AuthenticationError.missingClaim("account")) { try await verifier.verify(braced) }
    }

    @Test func needsAKey() async {
        await #expect(throws: ConfigurationError.self) { try await TokenVerifier(AuthenticationConfiguration()) }
    }
}
