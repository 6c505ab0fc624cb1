import NIOCore
import HeraldProtocol

/// One account's history for the embedded broker: the same rules as the Redis stream and its
/// functions (ids `<ms>-<seq>`, trimming by count and age, truncation detection), as a value
/// with the clock passed in.
struct EmbeddedHistory: Sendable {
    let epoch: String
    private(set) var events: [HistoryEvent] = []
    private var last = (milliseconds: UInt64(0), sequence: UInt64(0))
    /// The highest offset trimmed away; a read from below it cannot be complete.
    private var maxDeleted: StreamOffset?

    init(epoch: String) {
        self.epoch = epoch
    }

    var position: StreamOffset {
        StreamOffset(epoch: epoch, milliseconds: last.milliseconds, sequence: last.sequence)
    }

    /// Appends `event`, returning its offset and the stamped bytes; nil when it is not a JSON object.
    mutating func append(_ event: ByteBuffer, nowMilliseconds: UInt64, window: HistoryWindow) -> HistoryEvent? {
        let milliseconds = max(nowMilliseconds, last.milliseconds)
        let sequence = milliseconds == last.milliseconds ? last.sequence + 1 : 0
        let offset = StreamOffset(epoch: epoch, milliseconds: milliseconds, sequence: sequence)
        guard let stamped = HistoryStamp.stamp(event, offset: offset.description) else { return nil }
        last = (milliseconds, sequence)
        let entry = HistoryEvent(offset: offset, payload: stamped)
        events.append(entry)
        trim(nowMilliseconds: nowMilliseconds, window: window)
        return entry
    }

    private mutating func trim(nowMilliseconds: UInt64, window: HistoryWindow) {
        let maxAge = UInt64(max(window.maxAge.nanoseconds / 1_000_000, 0))
        let oldest = nowMilliseconds > maxAge ? nowMilliseconds - maxAge : 0
        var drop = max(events.count - window.maxEvents, 0)
        while drop < events.count, events[drop].offset.milliseconds < oldest { drop += 1 }
        guard drop > 0 else { return }
        maxDeleted = events[drop - 1].offset
        events.removeFirst(drop)
    }

    /// Events after `offset`, at most `limit`; truncated when the epoch differs, when events after
    /// `offset` were trimmed, or when `offset` lies beyond the last event.
    func read(after offset: StreamOffset, limit: Int, total: Int? = nil) -> HistoryPage {
        let truncated = offset.epoch != epoch || offset > position || (maxDeleted.map { $0 > offset } ?? false)
        guard !truncated else { return HistoryPage(epoch: epoch, events: [], truncated: true, hasMore: false) }
        let start = events.firstIndex { $0.offset > offset } ?? events.endIndex
        if let total, events.endIndex - start > total {
            return HistoryPage(epoch: epoch, events: [], truncated: false, hasMore: false, exceedsTotal: true)
        }
        let end = min(start + max(limit, 0), events.endIndex)
        return HistoryPage(epoch: epoch, events: Array(events[start..<end]), truncated: false, hasMore: end < events.endIndex)
    }
}
