/// A connection opened or closed on a node, for backends that follow who is connected where.
public struct LifecycleEvent: Sendable, Equatable {
    /// What happened; a small fixed set (the stream's `event` field).
    public enum Kind: String, Sendable, CaseIterable {
        case connectionOpen = "connection.open"
        case connectionClose = "connection.close"
    }

    public var kind: Kind
    public var account: String
    public var user: String
    public var connection: String

    public init(kind: Kind, account: String, user: String, connection: String) {
        self.kind = kind
        self.account = account
        self.user = user
        self.connection = connection
    }
}
