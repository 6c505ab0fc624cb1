import HeraldProtocol

/// Who a verified token says the client is.
public struct ClientIdentity: Sendable, Equatable {
    /// `sub`: the user id.
    public var user: String
    /// The account claim: the tenant whose events the client may see.
    public var account: String
    /// Sub-channels the client may join; `*` allows any.
    public var channels: Set<String>
    /// The `info` claim, shown in presence.
    public var info: JSONValue?

    public init(user: String, account: String, channels: Set<String> = [], info: JSONValue? = nil) {
        self.user = user
        self.account = account
        self.channels = channels
        self.info = info
    }

    /// True when the token's `channels` claim allows joining `channel`.
    public func mayJoin(_ channel: String) -> Bool {
        channels.contains("*") || channels.contains(channel)
    }
}
