import NIOCore

/// Presence and typing state of accounts, shared by every node (Redis) or kept in process (embedded).
///
/// Every state change that clients must hear about (`presence.join`, `presence.leave`,
/// `typing.start`, `typing.stop`) is published by the store itself, atomically with the change,
/// so exactly one event is sent however many nodes act at once.
public protocol PresenceStore: Sendable {
    /// Adds a connection; the user's first connection anywhere publishes `presence.join`.
    func join(account: String, member: PresenceMember, info: String?) -> EventLoopFuture<Void>
    /// Removes a connection; the user's last connection publishes `presence.leave`.
    func leave(account: String, member: PresenceMember) -> EventLoopFuture<Void>
    /// Refreshes this node's connections of the account and sweeps entries that expired
    /// (a dead node's), publishing the leaves they owe. One call per account per interval.
    func heartbeat(account: String, members: [PresenceMember]) -> EventLoopFuture<Void>
    /// Users present in the account now.
    func users(account: String) -> EventLoopFuture<[PresenceUser]>
    /// Starts or refreshes a typing state; only a new state publishes `typing.start`.
    /// `echo` false tells clients of `user` not to receive it.
    func startTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool>
    /// Ends a typing state; publishes `typing.stop` when one was on.
    func stopTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool>
    /// Ends expired typing states with `typing.stop`; returns milliseconds until the next one
    /// expires, or nil when none is left.
    func sweepTyping(account: String, echo: Bool) -> EventLoopFuture<TimeAmountMilliseconds?>
    /// Completes once every change sent before it has been applied (used before shutting down).
    func flush() -> EventLoopFuture<Void>
}
