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

    init(accounts: Int) {
        duplicates = Array(repeating: 0, count: accounts)
        reordered = Array(repeating: 0, count: accounts)
    }

    /// Records one stamped frame received by `slot` at wall-clock `now`.
    func recordDelivery(slot index: Int, stamp: EventStamp, now: UInt64) {
        delivered += 1
        let micros = now > stamp.sentAtNanoseconds ? (now - stamp.sentAtNanoseconds) / 1000 : 0
        latency.recordClamped(micros)
        guard let account = slots[index]?.account else { return }
        switch slots[index]?.ledger.record(stamp.sequence) {
        case .duplicate: duplicates[account] += 1
        case .reordered: reordered[account] += 1
        default: break
        }
    }

    /// Counters and histograms so far; with `resetLatency` the step histogram starts over.
    func snapshot(resetLatency: Bool) -> LoopSnapshot {
        let result = LoopSnapshot(
            latency: latency, connectTime: connectTime, delivered: delivered, otherFrames: otherFrames,
            duplicates: duplicates, reordered: reordered, nodes: nodes)
        if resetLatency { latency.reset() }
        return result
    }

    /// Loss of one step on this loop's slots; see ``StepWindow`` for the rule.
    func evaluate(_ window: StepWindow) -> [AccountLoss] {
        var result = [Int: AccountLoss]()
        for slot in slots.values {
            guard let range = window.ranges[slot.account] else { continue }
            guard let since = slot.establishedAt, since <= window.startedAt else {
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
}

/// Which events one step published, for the loss rule:
///
/// A connection is *eligible* for a step when its current connection was established before the
/// step's first publish (`startedAt`) and is still established when the step is evaluated
/// (after the publishers stopped and the grace period passed). Each eligible connection is
/// expected to receive every event published to its account during the step (the sequences in
/// `ranges`) except those whose publish failed (`failed`); each such sequence it never received
/// is one lost delivery. Connections that dropped, were churned or connected late are left out of
/// the expectation (their deliveries still count towards throughput and latency).
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
