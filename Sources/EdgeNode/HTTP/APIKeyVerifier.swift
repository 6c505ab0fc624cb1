import Crypto
import NIOHTTP1

/// Checks `Authorization: Bearer <api key>` against the configured keys in constant time:
/// both sides are hashed to equal length and every key is compared, so timing reveals neither
/// a key's length nor which key matched. A matched key comes with its ``APIKeyScope``.
struct APIKeyVerifier: Sendable {
    private let digests: [SHA256Digest]
    private let scopes: [APIKeyScope]

    /// - Parameter keys: `HERALD_API_KEYS` entries (`key` or `key{acct}{prefix*}`); an entry that
    ///   does not parse is left out (configuration validation refuses it before the node starts).
    init(keys: [String]) {
        let entries = keys.filter { !$0.isEmpty }.compactMap { try? APIKeyScope.parse(entry: $0) }
        digests = entries.map { SHA256.hash(data: Array($0.key.utf8)) }
        scopes = entries.map(\.scope)
    }

    var isEnabled: Bool { !digests.isEmpty }

    /// The 401 for a request without a valid key (also when no key is configured), else nil.
    func refusal(for head: HTTPRequestHead) -> HTTPRefusal? {
        do throws(AuthenticationError) {
            _ = try scope(for: head.headers)
            return nil
        } catch {
            return HTTPRefusal(error)
        }
    }

    /// The 401 for a request without a valid key, the 403 `account_forbidden` for a key whose
    /// scope leaves out `account`, else nil.
    func refusal(for head: HTTPRequestHead, account: String) -> HTTPRefusal? {
        do throws(AuthenticationError) {
            guard try scope(for: head.headers).allows(account) else { throw .accountForbidden(account) }
            return nil
        } catch {
            return HTTPRefusal(error)
        }
    }

    /// The scope of the key the request carries, or throws when it carries no valid key.
    func scope(for headers: HTTPHeaders) throws(AuthenticationError) -> APIKeyScope {
        guard isEnabled else { throw .badAPIKey }
        guard let authorization = headers.first(name: "authorization") else { throw .missingAPIKey }
        guard let key = Self.bearerToken(authorization) else { throw .missingAPIKey }
        let presented = SHA256.hash(data: key)
        var matched = -1
        for (index, digest) in digests.enumerated() {
            var difference: UInt8 = 0
            for (a, b) in zip(digest, presented) { difference |= a ^ b }
            matched = difference == 0 ? index : matched
        }
        guard matched >= 0 else { throw .badAPIKey }
        return scopes[matched]
    }

    /// The bytes after `Bearer ` (the scheme in any case), or nil when the header has no such
    /// scheme and value. Read as bytes: every API request passes here.
    static func bearerToken(_ authorization: String) -> ArraySlice<UInt8>? {
        let bytes = Array(authorization.utf8)
        let scheme = "bearer".utf8
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")), space == scheme.count, space + 1 < bytes.count,
            zip(bytes[..<space], scheme).allSatisfy({ $0 | 0x20 == $1 })
        else { return nil }
        return bytes[(space + 1)...]
    }
}
