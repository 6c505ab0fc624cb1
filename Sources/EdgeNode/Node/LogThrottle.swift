import NIOConcurrencyHelpers
import NIOCore

/// Lets at most one log line per key through per interval and counts the lines it held back, so
/// a flood of bad events shows in the log without flooding it. Safe to call from any thread.
final class LogThrottle<Key: Hashable & Sendable>: Sendable {
    private struct Entry {
        var lastLogged: NIODeadline
        var suppressed: Int
    }

    /// The shortest time between two lines of one key.
    let interval: TimeAmount
    private let entries = NIOLockedValueBox<[Key: Entry]>([:])

    init(interval: TimeAmount) {
        self.interval = interval
    }

    /// Nil when a line for `key` went out less than `interval` before `now` (this one is held
    /// back); otherwise how many lines of `key` were held back since the last one.
    func admit(_ key: Key, now: NIODeadline = .now()) -> Int? {
        entries.withLockedValue { entries in
            if var entry = entries[key], now - entry.lastLogged < interval {
                entry.suppressed += 1
                entries[key] = entry
                return nil
            }
            let suppressed = entries[key]?.suppressed ?? 0
            entries[key] = Entry(lastLogged: now, suppressed: 0)
            return suppressed
        }
    }
}
