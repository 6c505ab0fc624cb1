import Foundation
import HeraldProtocol
import JWTKit

/// Verifies client JWTs and turns their claims into a ``VerifiedToken``.
///
/// Every key is bound to one algorithm, and a token only reaches keys of the algorithm its header
/// names, after that algorithm is found on the allow-list: `alg: none` and algorithm confusion (an
/// HS256 token "signed" with an RSA public key) never reach a key. A token's `kid` selects exactly
/// one JWKS key (fetching the JWKS again once when no key has it), whose type must match `alg`; a
/// token without `kid` is tried against the keys of its `alg` only. Claims are checked with the
/// configured audience, issuer and leeway.
public struct TokenVerifier: Sendable {
    /// The configured secret and PEM key, by algorithm: the keys without a `kid`.
    private let configuredKeys: [String: VerificationKey]
    /// `HERALD_JWKS_FILE`.
    private let fileKeys: VerificationKeySet
    /// `HERALD_JWKS_URL`.
    private let remoteKeys: JWKSSource?
    private let rules: AuthenticationConfiguration

    /// HS256 secrets shorter than the hash output (32 bytes) are refused, as RFC 7518 §3.2 requires.
    public static let minimumSecretBytes = 32

    /// Algorithms this verifier accepts, derived from the configured keys.
    public let acceptedAlgorithms: Set<String>

    /// - Parameter jwks: the running source of `configuration.jwksURL`; without one, the URL is
    ///   only validated (as the executable does before it starts the node).
    public init(_ configuration: AuthenticationConfiguration, jwks: JWKSSource? = nil) async throws {
        var keys: [String: VerificationKey] = [:]
        if let secret = configuration.hmacSecret, !secret.isEmpty {
            guard secret.utf8.count >= Self.minimumSecretBytes else { throw ConfigurationError.weakSecret(minimumBytes: Self.minimumSecretBytes) }
            keys["HS256"] = VerificationKey(
                algorithm: "HS256", collection: await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256))
        }
        if let pem = configuration.publicKeyPEM {
            if let key = try? ES256PublicKey(pem: pem) {
                keys["ES256"] = VerificationKey(algorithm: "ES256", collection: await JWTKeyCollection().add(ecdsa: key))
            } else {
                do {
                    let key = try Insecure.RSA.PublicKey(pem: pem)
                    keys["RS256"] = VerificationKey(algorithm: "RS256", collection: await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256))
                } catch {
                    throw ConfigurationError.invalidPublicKey(String(describing: error))
                }
            }
        }
        var fileKeys = VerificationKeySet()
        if let jwks = configuration.jwksJSON {
            do {
                fileKeys = try await VerificationKeySet(jwksJSON: Array(jwks.utf8))
            } catch {
                throw ConfigurationError.invalidJWKS(String(describing: error))
            }
            guard !fileKeys.isEmpty else { throw ConfigurationError.invalidJWKS("it holds no RS256 or ES256 signing key") }
        }
        if let url = configuration.jwksURL { try JWKSSource.validate(url: url) }
        var algorithms = Set(keys.keys)
        for key in fileKeys.keys(algorithm: "RS256") + fileKeys.keys(algorithm: "ES256") { algorithms.insert(key.algorithm) }
        if configuration.jwksURL != nil { algorithms.formUnion(VerificationKeySet.algorithms) }
        guard !algorithms.isEmpty else { throw ConfigurationError.noVerificationKey }
        self.configuredKeys = keys
        self.fileKeys = fileKeys
        self.remoteKeys = jwks
        self.rules = configuration
        self.acceptedAlgorithms = algorithms
    }

    /// Verifies `token` and returns the identity and expiry it carries, or throws ``AuthenticationError``.
    public func verify(_ token: String, now: Date = Date()) async throws -> VerifiedToken {
        let header: JWTHeader
        do {
            header = try DefaultJWTParser().parse(Array(token.utf8), as: TokenClaims.self).header
        } catch {
            throw AuthenticationError.malformedToken
        }
        let alg = header.alg ?? "none"
        guard acceptedAlgorithms.contains(alg) else { throw AuthenticationError.algorithmRefused(alg) }
        let candidates = try await keys(for: alg, kid: header.kid)
        for key in candidates {
            if let claims = try? await key.collection.verify(token, as: TokenClaims.self) {
                return try claims.verified(rules, now: now)
            }
        }
        throw AuthenticationError.badSignature
    }

    /// The keys a token with `alg` and `kid` may be verified with.
    private func keys(for alg: String, kid: String?) async throws -> [VerificationKey] {
        guard let kid else {
            let keys = configuredKeys[alg].map { [$0] } ?? []
            return keys + fileKeys.keys(algorithm: alg) + (remoteKeys?.currentKeys?.keys(algorithm: alg) ?? [])
        }
        var key: VerificationKey?
        if VerificationKeySet.algorithms.contains(alg) {
            key = fileKeys.key(kid: kid) ?? remoteKeys?.currentKeys?.key(kid: kid)
            if key == nil, let remoteKeys { key = await remoteKeys.key(forUnknown: kid) }
        }
        if let key {
            guard key.algorithm == alg else { throw AuthenticationError.algorithmMismatch(kid: kid, key: key.algorithm, token: alg) }
            return [key]
        }
        // The configured secret or PEM key has no kid: a token naming one is still its to verify.
        guard let configured = configuredKeys[alg] else { throw AuthenticationError.unknownKey(kid) }
        return [configured]
    }
}
