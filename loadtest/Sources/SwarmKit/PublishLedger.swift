/// The publisher side's record of what it published: the last sequence number per account, the
/// sequences whose publish failed, and step boundaries. Confined to the publisher loop (hence `@unchecked Sendable`).
final class PublishLedger: @unchecked Sendable {
    private(set) var lastSequence: [UInt64]
    private(set) var failed: [Int: Set<UInt64>] = [:]
    /// Events handed to a sink, all time.
    private(set) var published = 0
    /// Events the server refused or that were lost with a publisher connection, all time.
    private(set) var failures = 0
    /// Events not published because the sink's backlog was full, all time.
    private(set) var skipped = 0
    private var stepFirst: [UInt64] = []

    init(accounts: Int) {
        lastSequence = Array(repeating: 0, count: accounts)
    }

    /// The next sequence number of `account`.
    func assign(account: Int) -> UInt64 {
        lastSequence[account] += 1
        published += 1
        return lastSequence[account]
    }

    func recordFailure(account: Int, sequence: UInt64) {
        failures += 1
        failed[account, default: []].insert(sequence)
    }

    func recordSkip() { skipped += 1 }

    /// Marks the start of a step.
    func beginStep() {
        stepFirst = lastSequence.map { $0 + 1 }
    }

    /// The sequences each account got since ``beginStep()``, and the failed ones among them.
    func stepRanges() -> (ranges: [Int: ClosedRange<UInt64>], failed: [Int: Set<UInt64>]) {
        var ranges = [Int: ClosedRange<UInt64>]()
        var failedInStep = [Int: Set<UInt64>]()
        for account in lastSequence.indices where lastSequence[account] >= stepFirst[account] {
            let range = stepFirst[account]...lastSequence[account]
            ranges[account] = range
            if let failures = failed[account]?.filter(range.contains), !failures.isEmpty { failedInStep[account] = failures }
        }
        return (ranges, failedInStep)
    }
}
