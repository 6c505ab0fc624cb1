import Crypto
import NIOHTTP1

/// Checks `Authorization: Bearer <api key>` against the configured keys in constant time:
/// both sides are hashed to equal length and every key is compared, so timing reveals neither
/// a key's length nor which key matched.
struct APIKeyVerifier: Sendable {
    private let digests: [SHA256Digest]

    init(keys: [String]) {
        digests = keys.filter { !$0.isEmpty }.map { SHA256.hash(data: Array($0.utf8)) }
    }

    var isEnabled: Bool { !digests.isEmpty }

    /// The 401 for a request without a valid key (also when no key is configured), else nil.
    func refusal(for head: HTTPRequestHead) -> HTTPRefusal? {
        do throws(AuthenticationError) {
            guard isEnabled else { throw .badAPIKey }
            try check(head.headers)
            return nil
        } catch {
            return HTTPRefusal(error)
        }
    }

    func check(_ headers: HTTPHeaders) throws(AuthenticationError) {
        guard let authorization = headers.first(name: "authorization") else { throw .missingAPIKey }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .missingAPIKey }
        let presented = SHA256.hash(data: Array(parts[1].utf8))
        var matched = false
        for digest in digests {
            var difference: UInt8 = 0
            for (a, b) in zip(digest, presented) { difference |= a ^ b }
            matched = matched || difference == 0
        }
        guard matched else { throw .badAPIKey }
    }
}
