import NIOCore
import Testing

@testable import PubSubBridge

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test func growsExponentiallyAndIsCapped() {
        let backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(5), jitter: .none)
        var random = SeededRandomNumberGenerator(seed: 1)
        let delays = (0..<10).map { backoff.delay(attempt: $0, using: &random) }
        #expect(
            delays == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5), .seconds(5),
            ]
        )
    }

    @Test func hugeAndNegativeAttemptsStayInRange() {
        let backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(5), jitter: .none)
        var random = SeededRandomNumberGenerator(seed: 2)
        #expect(backoff.delay(attempt: 63, using: &random) == .seconds(5))
        #expect(backoff.delay(attempt: Int.max, using: &random) == .seconds(5))
        #expect(backoff.delay(attempt: -3, using: &random) == .milliseconds(100))
    }

    @Test func fullJitterStaysWithinZeroAndCap() {
        let backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(5), jitter: .full)
        var random = SeededRandomNumberGenerator(seed: 3)
        for attempt in 0..<12 {
            let cap: Int64 = min(100_000_000 << Int64(attempt), 5_000_000_000)
            for _ in 0..<200 {
                let delay = backoff.delay(attempt: attempt, using: &random).nanoseconds
                #expect((0...cap).contains(delay))
            }
        }
    }

    @Test func equalJitterKeepsAtLeastHalf() {
        let backoff = ReconnectBackoff.standard
        #expect(backoff.jitter == .equal)
        var random = SeededRandomNumberGenerator(seed: 4)
        var seen = Set<Int64>()
        for attempt in 0..<12 {
            let cap: Int64 = min(100_000_000 << Int64(attempt), 5_000_000_000)
            for _ in 0..<200 {
                let delay = backoff.delay(attempt: attempt, using: &random).nanoseconds
                #expect((cap / 2...cap).contains(delay))
                seen.insert(delay)
            }
        }
        #expect(seen.count > 1000, "jitter should actually vary the delay")
    }

    @Test func sameSeedSameDelays() {
        let backoff = ReconnectBackoff.standard
        var first = SeededRandomNumberGenerator(seed: 42)
        var second = SeededRandomNumberGenerator(seed: 42)
        let a = (0..<20).map { backoff.delay(attempt: $0, using: &first) }
        let b = (0..<20).map { backoff.delay(attempt: $0, using: &second) }
        #expect(a == b)
    }
}
