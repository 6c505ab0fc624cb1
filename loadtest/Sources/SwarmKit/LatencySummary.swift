import Histogram

/// Percentiles of one latency histogram, in milliseconds, as reported in tables and JSON.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: UInt64
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var mean: Double

    public init(count: UInt64, p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }

    /// All zero: nothing was measured.
    public static let empty = LatencySummary(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)

    /// Summarises a histogram of microsecond values.
    public init(microseconds histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else {
            self = .empty
            return
        }
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 1000).rounded() / 1000 }
        self.init(
            count: histogram.totalCount,
            p50: ms(histogram.valueAtPercentile(50)),
            p90: ms(histogram.valueAtPercentile(90)),
            p99: ms(histogram.valueAtPercentile(99)),
            p999: ms(histogram.valueAtPercentile(99.9)),
            max: ms(histogram.max),
            mean: (histogram.mean).rounded() / 1000
        )
    }
}

extension Histogram where Count == UInt64 {
    /// A histogram of microseconds from 1 µs to 10 minutes at three significant digits: the one
    /// shape every latency in `swarm` is recorded in, so histograms of all loops can be added.
    public static func microseconds() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: maxMicroseconds, numberOfSignificantValueDigits: .three)
    }

    /// The largest value recorded; larger ones are clamped to it.
    public static var maxMicroseconds: UInt64 { 600_000_000 }

    /// Records `value` microseconds, clamped into the trackable range.
    public mutating func recordClamped(_ value: UInt64) {
        _ = record(Swift.min(Swift.max(value, 1), Self.maxMicroseconds))
    }
}
