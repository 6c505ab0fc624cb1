/// One connection of one user, the unit that presence entries expire by.
public struct PresenceMember: Sendable, Hashable {
    public var user: String
    public var connection: String

    public init(user: String, connection: String) {
        self.user = user
        self.connection = connection
    }
}

/// A user present in an account, as `presence.state` and the HTTP endpoint report it.
public struct PresenceUser: Sendable, Equatable {
    public var user: String
    /// Live connections (tabs, devices) of the user across all nodes.
    public var connections: Int
    /// The token's `info` claim as JSON text, when it had one.
    public var info: String?

    public init(user: String, connections: Int, info: String?) {
        self.user = user
        self.connections = connections
        self.info = info
    }
}

/// How long presence and typing states live without a refresh, and how often nodes refresh.
public struct PresenceTiming: Sendable, Equatable {
    /// A connection's presence entry expires this long after its node's last refresh.
    public var entryTTL: TimeAmountMilliseconds
    /// How often each node refreshes its entries and sweeps expired ones (one command per account).
    public var refreshInterval: TimeAmountMilliseconds
    /// A typing state not refreshed for this long ends with `typing.stop`.
    public var typingTTL: TimeAmountMilliseconds

    public init(entryTTL: TimeAmountMilliseconds = 30_000, refreshInterval: TimeAmountMilliseconds = 10_000, typingTTL: TimeAmountMilliseconds = 3_000) {
        self.entryTTL = entryTTL
        self.refreshInterval = refreshInterval
        self.typingTTL = typingTTL
    }

    /// Keys of an account vanish this long after its last presence or typing activity.
    public var keyTTL: TimeAmountMilliseconds { max(entryTTL, typingTTL) * 2 }
}

/// Milliseconds, the unit Redis scores and TTLs use.
public typealias TimeAmountMilliseconds = Int64
