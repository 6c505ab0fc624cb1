import Foundation
import JWTKit

/// The keys of one JWKS document, by `kid` and by algorithm.
///
/// Each key is bound to one algorithm from its type (`RSA` → RS256, `EC` on P-256 → ES256); a
/// key whose `alg` names anything else, whose `use` is not `sig`, or of another type is skipped,
/// as is a second key with an already seen `kid`: a `kid` selects exactly one key.
struct VerificationKeySet: Sendable {
    private(set) var byKeyID: [String: VerificationKey] = [:]
    private(set) var withoutKeyID: [VerificationKey] = []
    /// Keys of the document that were not taken, for the log.
    private(set) var skipped = 0

    /// Algorithms a JWKS key can be bound to.
    static let algorithms: Set<String> = ["RS256", "ES256"]

    /// The fields of a JWK that Herald reads.
    private struct Document: Decodable {
        struct Key: Decodable {
            var kty: String?
            var kid: String?
            var use: String?
            var alg: String?
            var crv: String?
            var n: String?
            var e: String?
            var x: String?
            var y: String?
        }
        var keys: [Key]
    }

    init() {}

    /// Parses a JWKS document; throws when it is not one (a document without usable keys is valid and empty).
    init(jwksJSON data: some DataProtocol) async throws {
        let document = try JSONDecoder().decode(Document.self, from: Data(data))
        for key in document.keys {
            guard let verificationKey = try? await Self.key(key) else {
                skipped += 1
                continue
            }
            if let kid = verificationKey.kid {
                guard byKeyID[kid] == nil else {
                    skipped += 1
                    continue
                }
                byKeyID[kid] = verificationKey
            } else {
                withoutKeyID.append(verificationKey)
            }
        }
    }

    private static func key(_ jwk: Document.Key) async throws -> VerificationKey? {
        if let use = jwk.use, use != "sig" { return nil }
        switch jwk.kty {
        case "RSA":
            guard jwk.alg == nil || jwk.alg == "RS256", let n = jwk.n, let e = jwk.e else { return nil }
            let key = try Insecure.RSA.PublicKey(modulus: n, exponent: e)
            return VerificationKey(
                algorithm: "RS256", kid: jwk.kid, collection: await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256))
        case "EC":
            guard jwk.alg == nil || jwk.alg == "ES256", jwk.crv == "P-256", let x = jwk.x, let y = jwk.y else { return nil }
            let key = try ES256PublicKey(parameters: (x, y))
            return VerificationKey(algorithm: "ES256", kid: jwk.kid, collection: await JWTKeyCollection().add(ecdsa: key))
        default:
            return nil
        }
    }

    var isEmpty: Bool { byKeyID.isEmpty && withoutKeyID.isEmpty }
    var count: Int { byKeyID.count + withoutKeyID.count }

    /// The one key `kid` selects.
    func key(kid: String) -> VerificationKey? { byKeyID[kid] }

    /// Every key bound to `algorithm`, for tokens without a `kid`.
    func keys(algorithm: String) -> [VerificationKey] {
        (withoutKeyID + byKeyID.values).filter { $0.algorithm == algorithm }
    }
}
