import Foundation
import HeraldProtocol
import JWTKit

/// Mints HS256 client tokens, for development, scripts and load tests; production tokens come
/// from the application's own backend with the same claims.
public enum DevelopmentToken {
    /// Returns a signed JWT with `sub`, the account claim, `exp`, and optional `channels` / `info`.
    public static func mint(
        secret: String, account: String, user: String, accountClaim: String = "account",
        channels: [String] = [], info: JSONValue? = nil, lifetime: TimeInterval = 3600, now: Date = Date()
    ) async throws -> String {
        var claims: [String: JSONValue] = [
            "sub": .string(user),
            accountClaim: .string(account),
            "exp": .number((now.timeIntervalSince1970 + lifetime).rounded()),
        ]
        if !channels.isEmpty { claims["channels"] = .array(channels.map(JSONValue.string)) }
        if let info { claims["info"] = info }
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(TokenClaims(claims: claims))
    }
}
