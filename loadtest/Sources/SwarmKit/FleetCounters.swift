import Atomics

/// Connection counters shared by all client loops (atomics: updated once per connection event,
/// read by the progress line and the outage monitor).
final class FleetCounters: Sendable {
    /// Connection attempts started.
    let attempts = ManagedAtomic(0)
    /// Attempts that became established.
    let established = ManagedAtomic(0)
    /// Attempts that failed before being established (refused, timed out, closed early).
    let failures = ManagedAtomic(0)
    /// Established connections closed by the server or the network (not by `swarm`).
    let drops = ManagedAtomic(0)
    /// Establishments of a slot that had been established before.
    let reconnects = ManagedAtomic(0)
    /// Established right now.
    let connected = ManagedAtomic(0)
    /// Attempts in flight.
    let pending = ManagedAtomic(0)
    /// Slots the ramp started.
    let launched = ManagedAtomic(0)
    /// Connections `swarm` closed to churn them.
    let churned = ManagedAtomic(0)
    /// Establishments that asked for `since` (`--resume`).
    let resumes = ManagedAtomic(0)
    /// `typing.start` and `presence.get` messages sent (`--typing-rate`, `--presence-rate`).
    let typingSent = ManagedAtomic(0)
    let presenceSent = ManagedAtomic(0)
    /// Client messages not sent because their connection was not established at the time.
    let messagesSkipped = ManagedAtomic(0)
    /// Whether churn is paused (during a step's grace period with `--resume`).
    let churnPaused = ManagedAtomic(false)
}
