import NIOCore

/// Capped exponential backoff with jitter, used to space out reconnect attempts.
///
/// A pure value: the random source is passed in, so delays are reproducible in tests.
public struct ReconnectBackoff: Sendable, Equatable {
    /// How the random part of a delay is chosen from the capped exponential delay `d`.
    public struct Jitter: Sendable, Equatable, CustomStringConvertible {
        private enum Base: Sendable, Equatable {
            case full
            case equal
            case none
        }

        private let base: Base

        /// A delay uniformly in `0...d`: spreads a fleet of reconnecting clients the most.
        public static let full = Jitter(base: .full)
        /// A delay uniformly in `d/2...d`: spreads clients while keeping at least half the backoff.
        public static let equal = Jitter(base: .equal)
        /// Exactly `d`; for tests and tools only, since synchronized clients reconnect in lockstep.
        public static let none = Jitter(base: .none)

        public var description: String {
            switch self.base {
            case .full: "full"
            case .equal: "equal"
            case .none: "none"
            }
        }

        fileprivate func apply(to cap: Int64, using rng: inout some RandomNumberGenerator) -> Int64 {
            switch self.base {
            case .full:
                return Int64.random(in: 0...cap, using: &rng)
            case .equal:
                let half = cap / 2
                return half + Int64.random(in: 0...(cap - half), using: &rng)
            case .none:
                return cap
            }
        }
    }

    /// The exponential delay before the first retry (attempt 0), before jitter.
    public var initial: TimeAmount
    /// The largest delay ever returned.
    public var maximum: TimeAmount
    /// How randomness is added to each delay.
    public var jitter: Jitter

    /// 100 ms doubling up to 5 s, with equal jitter.
    public static let standard = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(5), jitter: .equal)

    public init(initial: TimeAmount, maximum: TimeAmount, jitter: Jitter = .equal) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (0 for the first retry): `min(maximum, initial * 2^attempt)` with jitter applied.
    public func delay(attempt: Int, using rng: inout some RandomNumberGenerator) -> TimeAmount {
        let maximum = max(0, self.maximum.nanoseconds)
        let initial = min(max(0, self.initial.nanoseconds), maximum)
        let exponent = max(0, attempt)
        let cap: Int64
        if initial == 0 {
            cap = 0
        } else if exponent >= 62 || initial > (maximum >> Int64(exponent)) {
            cap = maximum
        } else {
            cap = min(maximum, initial << Int64(exponent))
        }
        return .nanoseconds(self.jitter.apply(to: cap, using: &rng))
    }
}
