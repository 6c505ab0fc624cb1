import CryptoExtras
@testable import EdgeNode
import Foundation
import HeraldProtocol
import JWTKit

/// A private key that mints tokens the way an identity provider does (RS256 or ES256, with or
/// without a `kid`), and the JWK that publishes its public half.
struct TestSigningKey: Sendable {
    let algorithm: String
    let kid: String?
    /// The public key as a JWKS entry.
    let jwk: [String: String]
    private let keys: JWTKeyCollection

    static func rs256(kid: String?) async throws -> TestSigningKey {
        let key = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let (modulus, exponent) = try key.publicKey.getKeyPrimitives()
        var jwk = ["kty": "RSA", "use": "sig", "n": base64URL(modulus), "e": base64URL(exponent)]
        jwk["kid"] = kid
        return TestSigningKey(
            algorithm: "RS256", kid: kid, jwk: jwk,
            keys: await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256, kid: kid.map(JWKIdentifier.init(string:))))
    }

    static func es256(kid: String?) async throws -> TestSigningKey {
        let key = ES256PrivateKey()
        guard let parameters = key.publicKey.parameters else { throw TestFailure("no EC parameters") }
        let (x, y) = parameters
        var jwk = ["kty": "EC", "crv": "P-256", "alg": "ES256", "x": x, "y": y]
        jwk["kid"] = kid
        return TestSigningKey(
            algorithm: "ES256", kid: kid, jwk: jwk, keys: await JWTKeyCollection().add(ecdsa: key, kid: kid.map(JWKIdentifier.init(string:))))
    }

    /// A JWKS document holding `keys`.
    static func jwks(_ keys: [TestSigningKey]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: ["keys": keys.map(\.jwk)], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A signed token with `sub`, `account`, `exp` (now + `lifetime`) and `extra` claims.
    func token(
        account: String = "42", user: String = "alice", lifetime: TimeInterval = 600, extra: [String: JSONValue] = [:]
    ) async throws -> String {
        var claims: [String: JSONValue] = [
            "sub": .string(user), "account": .string(account), "exp": .number((Date().timeIntervalSince1970 + lifetime).rounded()),
        ]
        claims.merge(extra) { $1 }
        return try await keys.sign(TokenClaims(claims: claims), kid: kid.map(JWKIdentifier.init(string:)))
    }

    static func base64URL(_ data: Data) -> String { TestToken.base64URL(data) }

    /// A token whose header says `alg` and `kid` with a signature that verifies nothing: for
    /// refusals that must happen before any key is tried.
    static func unsigned(alg: String, kid: String?, claims: [String: Any] = ["sub": "alice", "account": "42", "exp": 4_000_000_000]) -> String {
        var header: [String: Any] = ["alg": alg, "typ": "JWT"]
        header["kid"] = kid
        func encode(_ object: [String: Any]) -> String { base64URL(try! JSONSerialization.data(withJSONObject: object)) }
        return encode(header) + "." + encode(claims) + "." + base64URL(Data(repeating: 7, count: 64))
    }
}
