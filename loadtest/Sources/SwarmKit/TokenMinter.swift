import Foundation
import JWTKit

/// Mints the HS256 client tokens of the virtual users: `sub` (user), the account claim, `exp`, and
/// optional `channels`, the same claims an application backend gives real clients.
public struct TokenMinter: Sendable {
    private let keys: JWTKeyCollection
    private let accountClaim: String
    private let lifetime: TimeInterval

    /// - Parameters:
    ///   - secret: the HS256 secret the edge nodes verify with (`HERALD_JWT_SECRET`).
    ///   - accountClaim: claim holding the account (`HERALD_JWT_ACCOUNT_CLAIM`).
    ///   - lifetime: seconds until `exp`; longer than any run.
    public init(secret: String, accountClaim: String = "account", lifetime: TimeInterval = 24 * 3600) async {
        self.keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.accountClaim = accountClaim
        self.lifetime = lifetime
    }

    /// A signed token for `user` of `account`.
    public func mint(account: String, user: String, channels: [String] = [], now: Date = Date()) async throws -> String {
        try await keys.sign(
            VirtualUserClaims(
                user: user, account: account, accountClaim: accountClaim,
                expires: now.addingTimeInterval(lifetime), channels: channels))
    }
}

/// The claims of one virtual user's token, encoded with a configurable account claim name.
struct VirtualUserClaims: JWTPayload {
    var user: String
    var account: String
    var accountClaim: String
    var expires: Date
    var channels: [String]

    init(user: String, account: String, accountClaim: String, expires: Date, channels: [String]) {
        self.user = user
        self.account = account
        self.accountClaim = accountClaim
        self.expires = expires
        self.channels = channels
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "swarm only mints tokens"))
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(user, forKey: Key("sub"))
        try container.encode(account, forKey: Key(accountClaim))
        try container.encode(Int(expires.timeIntervalSince1970.rounded()), forKey: Key("exp"))
        if !channels.isEmpty { try container.encode(channels, forKey: Key("channels")) }
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
