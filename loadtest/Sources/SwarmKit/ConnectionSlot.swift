import NIOCore

/// One virtual connection ("tab") of a virtual user: which account and user it is, where it
/// connects, and what it has received across its reconnects. Lives in its event loop's
/// ``LoopTally`` and is only touched on that loop.
struct ConnectionSlot {
    /// Index in `0..<connections`.
    let index: Int
    /// Account index in `0..<accounts`.
    let account: Int
    /// What this slot received (kept across reconnects: a sequence seen before a reconnect was
    /// still delivered).
    var ledger = SequenceLedger()
    /// The open channel, once connecting started.
    var channel: Channel?
    /// Monotonic time the current connection became established (nil: not established).
    var establishedAt: UInt64?
    /// Monotonic time the current attempt started.
    var attemptStartedAt: UInt64 = 0
    /// Failed attempts in a row (for the backoff).
    var consecutiveFailures = 0
    /// Set when `swarm` itself closed the connection to churn; it reconnects at once.
    var churned = false
    /// The edge node id from the `connected` frame.
    var node: String?
    /// Times this slot became established (more than one: it reconnected).
    var establishments = 0

    // MARK: Resuming (`--resume`)

    /// The last history offset this slot received: the newest event's `offset`, or the
    /// `offset` of a `connected` frame that did not resume. Kept across reconnects; the next
    /// connection asks for `since=<lastOffset>`.
    var lastOffset: String?
    /// The `since` the current (or last) connection attempt asked for; nil: it did not resume.
    var resumedFrom: String?
    /// The current connection resumed and its `recovery` frame has not arrived yet (its replay
    /// may still be on its way).
    var awaitingRecovery = false
    /// Monotonic time since which this slot is owed every event of its account (see the loss
    /// rule in ``StepWindow``): the establishment of its current connection, or with `--resume`
    /// of the first connection of an unbroken chain of resumes. Nil: owed nothing now.
    var owedSince: UInt64?
}
