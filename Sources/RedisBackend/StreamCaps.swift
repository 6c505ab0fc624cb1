import NIOCore

/// How far a Redis stream Herald appends to may grow: entries beyond `maxLength` and entries older
/// than `maxAge` are trimmed (approximately, `~`, so Redis trims whole nodes cheaply).
public struct StreamCaps: Sendable, Equatable {
    /// Most entries kept (`MAXLEN ~`).
    public var maxLength: Int
    /// Oldest entry kept, by its id's time (`MINID ~`).
    public var maxAge: TimeAmount

    public init(maxLength: Int = 100_000, maxAge: TimeAmount = .hours(24)) {
        self.maxLength = maxLength
        self.maxAge = maxAge
    }
}
