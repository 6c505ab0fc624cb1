import Foundation
import HeraldProtocol
import JWTKit

extension JSONValue {
    /// The string, for a string; nil for any other kind.
    fileprivate var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

/// All claims of a token, kept generic so the account claim's name can be configured.
struct TokenClaims: JWTPayload {
    var claims: [String: JSONValue]

    init(claims: [String: JSONValue]) {
        self.claims = claims
    }

    init(from decoder: any Decoder) throws {
        claims = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(claims)
    }

    /// Signature checks happen in jwt-kit; claim checks happen in `verified`, where the clock is injected.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// Checks the time claims (with the leeway), the audience and issuer when configured, and
    /// reads the identity. Each refusal names the claim that failed.
    func verified(_ rules: AuthenticationConfiguration, now: Date) throws -> VerifiedToken {
        let leeway = TimeInterval(rules.leewaySeconds)
        let moment = now.timeIntervalSince1970
        guard case .number(let exp)? = claims["exp"] else { throw AuthenticationError.missingClaim("exp") }
        guard moment <= exp + leeway else { throw AuthenticationError.expired }
        if let nbf = claims["nbf"] {
            guard case .number(let notBefore) = nbf else { throw AuthenticationError.invalidClaim("nbf") }
            guard moment + leeway >= notBefore else { throw AuthenticationError.notYetValid }
        }
        if let issuer = rules.issuer {
            guard case .string(let iss)? = claims["iss"] else { throw AuthenticationError.missingClaim("iss") }
            guard iss == issuer else { throw AuthenticationError.invalidClaim("iss") }
        }
        if !rules.audiences.isEmpty {
            let audiences: [String]
            switch claims["aud"] {
            case .string(let audience)?: audiences = [audience]
            case .array(let values)?: audiences = values.compactMap(\.stringValue)
            case nil: throw AuthenticationError.missingClaim("aud")
            default: throw AuthenticationError.invalidClaim("aud")
            }
            guard audiences.contains(where: { rules.audiences.contains($0) }) else { throw AuthenticationError.invalidClaim("aud") }
        }
        // Control characters are refused: presence keys use \u{1F} to separate user from connection.
        guard let user = claims["sub"]?.identifierString, !user.isEmpty, user.utf8.count <= 256,
            !user.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw AuthenticationError.missingClaim("sub")
        }
        guard let account = claims[rules.accountClaim]?.identifierString, AccountName.isValid(account) else {
            throw AuthenticationError.missingClaim(rules.accountClaim)
        }
        var channels: Set<String> = []
        if case .array(let values)? = claims["channels"] {
            channels = Set(values.compactMap(\.identifierString))
        }
        return VerifiedToken(
            identity: ClientIdentity(user: user, account: account, channels: channels, info: claims["info"]),
            expiresAt: Date(timeIntervalSince1970: exp))
    }
}
