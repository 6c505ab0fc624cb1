/// What one connection received of its account's sequence numbers: a bitmap of the sequences
/// seen, the highest one, and counts of duplicates and out-of-order arrivals.
///
/// - A *duplicate* is a sequence this connection already received.
/// - A *reordered* arrival is a first arrival of a sequence lower than the highest received so far
///   (receiving 1 2 4 3 counts one: the 3).
/// - What is *missing* is asked for a range of sequences afterwards (see ``missing(in:excluding:)``).
public struct SequenceLedger: Sendable {
    private var words: [UInt64] = []
    /// Highest sequence received (0: none yet).
    public private(set) var highest: UInt64 = 0
    /// Distinct sequences received.
    public private(set) var unique = 0
    /// Arrivals of a sequence already received.
    public private(set) var duplicates = 0
    /// First arrivals below the highest sequence already received.
    public private(set) var reordered = 0

    public init() {}

    /// What happened to one arrival.
    public enum Arrival: Sendable, Equatable { case inOrder, reordered, duplicate, invalid }

    /// Records one arrival of `sequence` (sequences start at 1; 0 is refused as invalid).
    @discardableResult
    public mutating func record(_ sequence: UInt64) -> Arrival {
        guard sequence > 0, sequence < 1 << 40 else { return .invalid }
        let bit = sequence - 1
        let word = Int(bit >> 6)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        let mask: UInt64 = 1 << (bit & 63)
        if words[word] & mask != 0 {
            duplicates += 1
            return .duplicate
        }
        words[word] |= mask
        unique += 1
        if sequence < highest {
            reordered += 1
            return .reordered
        }
        highest = sequence
        return .inOrder
    }

    /// Whether `sequence` was received.
    public func contains(_ sequence: UInt64) -> Bool {
        guard sequence > 0 else { return false }
        let bit = sequence - 1
        let word = Int(bit >> 6)
        return word < words.count && words[word] & (1 << (bit & 63)) != 0
    }

    /// How many sequences of `range` were never received, not counting those in `excluded`
    /// (events whose publish failed, which nobody should expect).
    public func missing(in range: ClosedRange<UInt64>, excluding excluded: Set<UInt64> = []) -> Int {
        var count = 0
        for sequence in range where !contains(sequence) && !excluded.contains(sequence) { count += 1 }
        return count
    }
}
