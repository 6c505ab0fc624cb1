import Foundation

/// When a JWKS is fetched next, as a value: times are durations since the source started, so the
/// policy is tested without a clock.
///
/// After a good fetch the next one is due after the response's `max-age` (bounded by the
/// minimum and the regular interval) or the regular interval. After a failed fetch it is retried
/// after 1 s, doubling up to the minimum interval, while the last good set stays in use. An
/// unknown `kid` may cause a fetch only when none started within the minimum interval.
struct JWKSRefreshPolicy: Sendable, Equatable {
    let interval: Duration
    let minimumInterval: Duration
    /// When the last fetch started; nil before the first.
    private(set) var lastAttempt: Duration?
    /// When the next scheduled fetch is due.
    private(set) var nextRefresh: Duration = .zero
    private(set) var consecutiveFailures = 0

    /// The first retry delay after a failure.
    static let firstRetry = Duration.seconds(1)

    init(interval: Duration, minimumInterval: Duration) {
        self.interval = interval
        self.minimumInterval = min(minimumInterval, interval)
    }

    mutating func started(at now: Duration) {
        lastAttempt = now
    }

    /// A good fetch at `now`; `maxAge` from its `Cache-Control`, when it had one.
    mutating func succeeded(at now: Duration, maxAge: Duration?) {
        consecutiveFailures = 0
        let wait = maxAge.map { Swift.max(minimumInterval, Swift.min($0, interval)) } ?? interval
        nextRefresh = now + wait
    }

    mutating func failed(at now: Duration) {
        consecutiveFailures += 1
        var wait = Self.firstRetry
        for _ in 1..<Swift.min(consecutiveFailures, 32) where wait < minimumInterval { wait = wait * 2 }
        nextRefresh = now + Swift.min(wait, minimumInterval)
    }

    /// Whether a token with an unknown `kid` may cause a fetch now.
    func mayRefreshForUnknownKey(at now: Duration) -> Bool {
        guard let lastAttempt else { return true }
        return now - lastAttempt >= minimumInterval
    }

    /// `max-age` of a `Cache-Control` value (`no-cache`/`no-store` count as 0), or nil.
    static func maxAge(cacheControl: String) -> Duration? {
        for directive in cacheControl.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            switch parts[0] {
            case "max-age" where parts.count == 2:
                if let seconds = Int64(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))), seconds >= 0 {
                    return .seconds(seconds)
                }
            case "no-cache", "no-store":
                return .zero
            default:
                continue
            }
        }
        return nil
    }
}
