import NIOCore

/// Where a node reports its connections opening and closing (a Redis stream, opt-in).
///
/// Recording is best effort and never waits: a connection never waits for it, and an event that
/// cannot be written while the backend is down is counted and lost (the presence keys stay the
/// authority on who is online).
public protocol LifecycleRecorder: Sendable {
    /// Appends `event`; completes when it was written, fails when it was not.
    @discardableResult
    func record(_ event: LifecycleEvent) -> EventLoopFuture<Void>
}
