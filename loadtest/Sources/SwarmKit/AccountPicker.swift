import Foundation

/// Chooses the account of each published event: in turn, or skewed like real traffic where a few
/// accounts are much busier (Zipf with exponent `s`: account k gets a share proportional to 1/kˢ).
public struct AccountPicker: Sendable {
    /// How events spread over accounts.
    public enum Spread: Sendable, Equatable {
        case roundRobin
        case zipf(exponent: Double)
    }

    private let cumulative: [Double]
    private let accounts: Int
    private var next = 0
    private var random: SplitMix64

    public init(accounts: Int, spread: Spread, seed: UInt64 = 0x5EED) {
        precondition(accounts > 0, "at least one account")
        self.accounts = accounts
        self.random = SplitMix64(seed: seed)
        switch spread {
        case .roundRobin:
            cumulative = []
        case .zipf(let exponent):
            var total = 0.0
            var sums: [Double] = []
            sums.reserveCapacity(accounts)
            for rank in 1...accounts {
                total += 1 / Double(rank).power(exponent)
                sums.append(total)
            }
            cumulative = sums.map { $0 / total }
        }
    }

    /// The next account index, in `0..<accounts`.
    public mutating func pick() -> Int {
        if cumulative.isEmpty {
            defer { next = (next + 1) % accounts }
            return next
        }
        let draw = Double(random.next() >> 11) / Double(1 << 53)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < draw { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// A small, fast, seedable generator so skewed runs are repeatable.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Double {
    fileprivate func power(_ exponent: Double) -> Double {
        exponent == 1 ? self : Foundation.pow(self, exponent)
    }
}
