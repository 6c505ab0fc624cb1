import SwarmKit
import Testing

@Suite("SequenceLedger")
struct SequenceLedgerTests {
    @Test("in order, duplicate, reordered and missing")
    func classifiesArrivals() {
        var ledger = SequenceLedger()
        #expect(ledger.record(1) == .inOrder)
        #expect(ledger.record(2) == .inOrder)
        #expect(ledger.record(4) == .inOrder)
        #expect(ledger.record(3) == .reordered)
        #expect(ledger.record(4) == .duplicate)
        #expect(ledger.record(0) == .invalid)
        #expect(ledger.unique == 4 && ledger.duplicates == 1 && ledger.reordered == 1 && ledger.highest == 4)
        #expect(ledger.missing(in: 1...6) == 2)
        #expect(ledger.missing(in: 1...6, excluding: [6]) == 1)
    }

    @Test("grows past one word")
    func growsPastWord() {
        var ledger = SequenceLedger()
        for sequence in stride(from: 1 as UInt64, through: 1000, by: 2) { ledger.record(sequence) }
        #expect(ledger.missing(in: 1...1000) == 500)
        #expect(ledger.contains(999) && !ledger.contains(1000))
    }
}
