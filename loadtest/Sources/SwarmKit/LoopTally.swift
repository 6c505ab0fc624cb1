import Histogram
import NIOCore

/// Everything one client event loop measures: its connection slots, the latency and connect-time
/// histograms, and per-account counters. Confined to its loop (reached through `NIOLoopBound`), so
/// the hot path takes no lock; the coordinator reads it with ``snapshot(resetLatency:)`` and
/// ``evaluate(_:)`` submitted to the loop.
final class LoopTally {
    var slots: [Int: ConnectionSlot] = [:]
    /// End-to-end latency of the current step, microseconds.
    var latency = Histogram<UInt64>.microseconds()
    /// Time from starting an attempt to its establishment, microseconds, all time.
    var connectTime = Histogram<UInt64>.microseconds()
    /// Stamped frames received, all time.
    var delivered = 0
    /// Text frames without a stamp (welcome, pongs, acks, errors, presence…).
    var otherFrames = 0
    /// Per-account duplicate and reordered arrivals, all time.
    var duplicates: [Int]
    var reordered: [Int]
    /// Established connections per edge node id (from the `connected` frame).
    var nodes: [String: Int] = [:]
    /// Per-account `recovery` frames with `recovered:false` (gaps the server reported), all time.
    var gaps: [Int]
    /// Unstamped Herald frames by kind, all time.
    var frames = FrameCounts()

    init(accounts: Int) {
        duplicates = Array(repeating: 0, count: accounts)
        reordered = Array(repeating: 0, count: accounts)
        gaps = Array(repeating: 0, count: accounts)
    }

    /// Records one stamped frame received by `slot` at wall-clock `now`; `offset` is its
    /// history offset when it carries one (the slot resumes from it).
    func recordDelivery(slot index: Int, stamp: EventStamp, now: UInt64, offset: String? = nil) {
        delivered += 1
        let micros = now > stamp.sentAtNanoseconds ? (now - stamp.sentAtNanoseconds) / 1000 : 0
        latency.recordClamped(micros)
        guard let account = slots[index]?.account else { return }
        if let offset { slots[index]?.lastOffset = offset }
        switch slots[index]?.ledger.record(stamp.sequence) {
        case .duplicate: duplicates[account] += 1
        case .reordered: reordered[account] += 1
        default: break
        }
    }

    /// Records the history offset of an unstamped event (not swarm's own) the slot received.
    func recordOffset(slot index: Int, offset: String) {
        slots[index]?.lastOffset = offset
    }

    /// Records a `recovery` frame received by `slot` at monotonic time `now`. The resume's own
    /// recovery (not a sub-channel's) ends its replay. `recovered:false` is a reported gap: the
    /// slot's chain of owed events breaks there (it is owed only what comes after it), and
    /// when no event reached this connection yet it resumes next time from the connection's own
    /// `connected` offset (the server's new base for it).
    func recordRecovery(slot index: Int, recovery: FrameScan.Recovery, connectedOffset: String?, now: UInt64) {
        guard var state = slots[index] else { return }
        if !recovery.channel { state.awaitingRecovery = false }
        if recovery.recovered {
            frames.recovered += 1
            frames.replayed += recovery.count
        } else {
            frames.gaps += 1
            frames.gapReasons[recovery.reason ?? "none", default: 0] += 1
            gaps[state.account] += 1
            state.owedSince = now
            if state.lastOffset == state.resumedFrom, let connectedOffset { state.lastOffset = connectedOffset }
        }
        slots[index] = state
    }

    /// Counters and histograms so far; with `resetLatency` the step histogram starts over.
    func snapshot(resetLatency: Bool) -> LoopSnapshot {
        let result = LoopSnapshot(
            latency: latency, connectTime: connectTime, delivered: delivered, otherFrames: otherFrames,
            duplicates: duplicates, reordered: reordered, nodes: nodes, gaps: gaps, frames: frames)
        if resetLatency { latency.reset() }
        return result
    }

    /// Loss of one step on this loop's slots; see ``StepWindow`` for the rule.
    func evaluate(_ window: StepWindow) -> [AccountLoss] {
        var result = [Int: AccountLoss]()
        for slot in slots.values {
            guard let range = window.ranges[slot.account] else { continue }
            guard let since = slot.owedSince, since <= window.startedAt, slot.establishedAt != nil, !slot.awaitingRecovery else {
                result[slot.account, default: AccountLoss(account: slot.account)].ineligibleConnections += 1
                continue
            }
            let failed = window.failed[slot.account] ?? []
            var entry = result[slot.account, default: AccountLoss(account: slot.account)]
            entry.eligibleConnections += 1
            entry.expected += range.count - failed.filter(range.contains).count
            entry.lost += slot.ledger.missing(in: range, excluding: failed)
            result[slot.account] = entry
        }
        return Array(result.values)
    }
}

/// A copy of one loop's counters, safe to send to the coordinator.
struct LoopSnapshot: Sendable {
    var latency: Histogram<UInt64>
    var connectTime: Histogram<UInt64>
    var delivered: Int
    var otherFrames: Int
    var duplicates: [Int]
    var reordered: [Int]
    var nodes: [String: Int]
    var gaps: [Int]
    var frames: FrameCounts
}

/// Herald frames other than swarm's events, counted by kind (all time, per loop; summed by the
/// coordinator).
public struct FrameCounts: Sendable, Codable, Equatable {
    /// `recovery` frames with `recovered:true`, and the events they said were replayed.
    public var recovered = 0
    public var replayed = 0
    /// `recovery` frames with `recovered:false`.
    public var gaps = 0
    /// `presence.state` answers.
    public var presenceStates = 0
    /// `presence.join` / `presence.leave` events.
    public var presenceEvents = 0
    /// `typing.start` / `typing.stop` events.
    public var typingEvents = 0
    /// `error` frames, and those among them that say `rate_limited`.
    public var errors = 0
    public var rateLimited = 0
    /// `recovered:false` frames by `reason`, and `error` frames by `code`.
    public var gapReasons: [String: Int] = [:]
    public var errorCodes: [String: Int] = [:]

    public init() {}

    public mutating func add(_ other: FrameCounts) {
        recovered += other.recovered
        replayed += other.replayed
        gaps += other.gaps
        presenceStates += other.presenceStates
        presenceEvents += other.presenceEvents
        typingEvents += other.typingEvents
        errors += other.errors
        rateLimited += other.rateLimited
        gapReasons.merge(other.gapReasons, uniquingKeysWith: +)
        errorCodes.merge(other.errorCodes, uniquingKeysWith: +)
    }
}

/// Which events one step published, for the loss rule:
///
/// A connection is *eligible* for a step when it was owed every event since before the step's
/// first publish (`startedAt`) and is established when the step is evaluated (after the
/// publishers stopped and the grace period passed). Without `--resume` it is owed events from
/// the establishment of its current connection; with `--resume` from the first establishment of
/// an unbroken chain of resumes (each reconnect asked for `since` = the last offset it received;
/// a `recovered:false` breaks the chain and is counted as a gap), and at evaluation its last
/// resume must have finished (its `recovery` frame arrived). Each eligible connection is
/// expected to receive every event published to its account during the step (the sequences in
/// `ranges`) except those whose publish failed (`failed`); each such sequence it never received
/// is one lost delivery. Connections that dropped, were churned or connected late without an
/// unbroken chain are left out of the expectation (their deliveries still count towards
/// throughput and latency).
struct StepWindow: Sendable {
    var startedAt: UInt64
    var ranges: [Int: ClosedRange<UInt64>]
    var failed: [Int: Set<UInt64>]
}

/// Loss of one account in one step, summed over connections.
public struct AccountLoss: Sendable, Codable, Equatable {
    public var account: Int
    public var eligibleConnections = 0
    public var ineligibleConnections = 0
    public var expected = 0
    public var lost = 0

    public init(account: Int) { self.account = account }

    mutating func add(_ other: AccountLoss) {
        eligibleConnections += other.eligibleConnections
        ineligibleConnections += other.ineligibleConnections
        expected += other.expected
        lost += other.lost
    }
}
