import JWTKit

/// One key a token may be verified with, bound to exactly one algorithm: a token whose header
/// names another `alg` never reaches it.
struct VerificationKey: Sendable {
    /// `HS256`, `RS256` or `ES256`.
    var algorithm: String
    /// The JWKS `kid`; nil for the configured secret or PEM key.
    var kid: String?
    /// A collection holding this key alone, as its default key.
    var collection: JWTKeyCollection

    init(algorithm: String, kid: String? = nil, collection: JWTKeyCollection) {
        self.algorithm = algorithm
        self.kid = kid
        self.collection = collection
    }
}
