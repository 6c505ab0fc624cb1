import NIOCore

/// How much history Redis keeps per account: at least the last `maxEvents` events, none older than `maxAge`.
///
/// Trimming is approximate (whole stream nodes), so slightly more may be kept; reads report what is really gone.
public struct HistoryWindow: Sendable, Equatable {
    /// How many recent events stay recoverable.
    public var maxEvents: Int
    /// How long an event stays recoverable; also the TTL of an account's history keys after its last publish.
    public var maxAge: TimeAmount

    public init(maxEvents: Int = 1000, maxAge: TimeAmount = .minutes(10)) {
        self.maxEvents = maxEvents
        self.maxAge = maxAge
    }

    /// `maxAge` in whole milliseconds, as Redis takes it.
    public var maxAgeMilliseconds: Int64 {
        self.maxAge.nanoseconds / 1_000_000
    }
}
