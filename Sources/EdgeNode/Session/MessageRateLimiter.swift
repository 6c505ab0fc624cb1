import NIOCore

/// A token bucket for client messages, with the clock passed in so tests control time.
///
/// Within the rate everything passes. Past it, messages are refused (the first refusal of a
/// streak is reported so the client gets one `error`, not one per message), and a streak longer
/// than the burst means the client ignores the errors: disconnect it.
struct MessageRateLimiter: Sendable {
    enum Decision: Equatable {
        case allow
        case refuse(report: Bool)
        case disconnect
    }

    let perSecond: Double
    let burst: Double
    private var tokens: Double
    private var refilledAt: NIODeadline
    private var refusalStreak = 0

    init(perSecond: Int, burst: Int, now: NIODeadline) {
        self.perSecond = Double(max(perSecond, 1))
        self.burst = Double(max(burst, 1))
        self.tokens = self.burst
        self.refilledAt = now
    }

    mutating func admit(now: NIODeadline) -> Decision {
        let elapsed = Double((now - refilledAt).nanoseconds) / 1e9
        if elapsed > 0 {
            tokens = min(burst, tokens + elapsed * perSecond)
            refilledAt = now
        }
        if tokens >= 1 {
            tokens -= 1
            refusalStreak = 0
            return .allow
        }
        refusalStreak += 1
        if Double(refusalStreak) > burst { return .disconnect }
        return .refuse(report: refusalStreak == 1)
    }
}
