import HeraldProtocol

/// Who a verified token says the client is.
public struct ClientIdentity: Sendable, Equatable {
    /// `sub`: the user id.
    public var user: String
    /// The account claim: the tenant whose events the client may see.
    public var account: String
    /// Sub-channels the client may join: exact names, `*` for any, or prefixes ending in `*`
    /// (`kpi:*` allows every channel that starts with `kpi:`).
    public var channels: Set<String>
    /// The `info` claim, shown in presence.
    public var info: JSONValue?

    public init(user: String, account: String, channels: Set<String> = [], info: JSONValue? = nil) {
        self.user = user
        self.account = account
        self.channels = channels
        self.info = info
    }

    /// True when the token's `channels` claim allows joining `channel`: listed exactly, or
    /// covered by `*` or by a prefix entry `p*` that `channel` starts with.
    public func mayJoin(_ channel: String) -> Bool {
        if channels.contains(channel) || channels.contains("*") { return true }
        return channels.contains { grant in
            grant.utf8.last == UInt8(ascii: "*") && channel.utf8.starts(with: grant.utf8.dropLast())
        }
    }
}
