/// User-level presence from connection-level events: a user is present from their first
/// connection to their last, however many tabs they open. A value type with no I/O, so the
/// same rules serve the embedded broker and the Redis store's bookkeeping.
public struct PresenceRoster: Sendable, Equatable {
    /// A change in who is present.
    public enum Transition: Sendable, Equatable {
        case joined(user: String)
        case left(user: String)
    }

    private var connectionsByUser: [String: Set<String>] = [:]

    public init() {}

    /// Users present and how many connections each holds.
    public var users: [String: Int] { connectionsByUser.mapValues(\.count) }

    /// Records a connection; returns `.joined` when it is the user's first.
    public mutating func connect(user: String, connection: String) -> Transition? {
        let inserted = connectionsByUser[user, default: []].insert(connection).inserted
        return inserted && connectionsByUser[user]?.count == 1 ? .joined(user: user) : nil
    }

    /// Removes a connection; returns `.left` when it was the user's last.
    public mutating func disconnect(user: String, connection: String) -> Transition? {
        guard connectionsByUser[user]?.remove(connection) != nil else { return nil }
        guard connectionsByUser[user]?.isEmpty == true else { return nil }
        connectionsByUser[user] = nil
        return .left(user: user)
    }
}
