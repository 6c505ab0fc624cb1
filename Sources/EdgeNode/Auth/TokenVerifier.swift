import Foundation
import HeraldProtocol
import JWTKit

/// Verifies client JWTs and turns their claims into a `ClientIdentity`.
///
/// Keys are kept per algorithm, and a token is checked only against the keys of the algorithm
/// its header names, after that algorithm is found on the allow-list: `alg: none` and
/// algorithm confusion (an HS256 token "signed" with an RSA public key) never reach a key.
public struct TokenVerifier: Sendable {
    private let collections: [String: JWTKeyCollection]
    private let accountClaim: String

    /// HS256 secrets shorter than the hash output (32 bytes) are refused, as RFC 7518 §3.2 requires.
    public static let minimumSecretBytes = 32

    /// Algorithms this verifier accepts, derived from the configured keys.
    public var acceptedAlgorithms: Set<String> { Set(collections.keys) }

    public init(_ configuration: AuthenticationConfiguration) async throws {
        var collections: [String: JWTKeyCollection] = [:]
        if let secret = configuration.hmacSecret, !secret.isEmpty {
            guard secret.utf8.count >= Self.minimumSecretBytes else { throw ConfigurationError.weakSecret(minimumBytes: Self.minimumSecretBytes) }
            collections["HS256"] = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        if let pem = configuration.publicKeyPEM {
            if let key = try? ES256PublicKey(pem: pem) {
                collections["ES256"] = await JWTKeyCollection().add(ecdsa: key)
            } else {
                do {
                    let key = try Insecure.RSA.PublicKey(pem: pem)
                    collections["RS256"] = await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256)
                } catch {
                    throw ConfigurationError.invalidPublicKey(String(describing: error))
                }
            }
        }
        if let jwks = configuration.jwksJSON {
            do {
                let keys = try await JWTKeyCollection().add(jwksJSON: jwks)
                for alg in ["RS256", "ES256"] where collections[alg] == nil { collections[alg] = keys }
            } catch {
                throw ConfigurationError.invalidJWKS(String(describing: error))
            }
        }
        guard !collections.isEmpty else { throw ConfigurationError.noVerificationKey }
        self.collections = collections
        self.accountClaim = configuration.accountClaim
    }

    /// Verifies `token` and returns the identity it carries, or throws `AuthenticationError`.
    public func verify(_ token: String, now: Date = Date()) async throws -> ClientIdentity {
        let alg: String
        do {
            alg = try DefaultJWTParser().parse(Array(token.utf8), as: TokenClaims.self).header.alg ?? "none"
        } catch {
            throw AuthenticationError.malformedToken
        }
        guard let keys = collections[alg] else { throw AuthenticationError.algorithmRefused(alg) }
        let claims: TokenClaims
        do {
            claims = try await keys.verify(token, as: TokenClaims.self, iteratingKeys: true)
        } catch let error as AuthenticationError {
            throw error
        } catch {
            throw AuthenticationError.badSignature
        }
        return try claims.identity(accountClaim: accountClaim, now: now)
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

    /// Signature checks happen in jwt-kit; claim checks happen in `identity`, where the clock is injected.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    func identity(accountClaim: String, now: Date) throws -> ClientIdentity {
        guard case .number(let exp)? = claims["exp"] else { throw AuthenticationError.missingClaim("exp") }
        do {
            try ExpirationClaim(value: Date(timeIntervalSince1970: exp)).verifyNotExpired(currentDate: now)
        } catch {
            throw AuthenticationError.expired
        }
        // Control characters are refused: presence keys use \u{1F} to separate user from connection.
        guard let user = claims["sub"]?.identifierString, !user.isEmpty, user.utf8.count <= 256,
            !user.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw AuthenticationError.missingClaim("sub")
        }
        guard let account = claims[accountClaim]?.identifierString, AccountName.isValid(account) else {
            throw AuthenticationError.missingClaim(accountClaim)
        }
        var channels: Set<String> = []
        if case .array(let values)? = claims["channels"] {
            channels = Set(values.compactMap(\.identifierString))
        }
        return ClientIdentity(user: user, account: account, channels: channels, info: claims["info"])
    }
}
