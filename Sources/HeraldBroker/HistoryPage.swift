import HeraldProtocol
/// The answer to a history read: the events after an offset, or the news that they cannot be recovered.
public struct HistoryPage: Sendable, Equatable {
    /// The account's current epoch; `nil` when the account has none (no history at all).
    public var epoch: String?
    /// The events after the requested offset, oldest first; empty when `truncated`.
    public var events: [HistoryEvent]
    /// Whether the history cannot be recovered from the requested offset (another epoch, events trimmed,
    /// or an offset beyond the last event): the client must be told `recovered: false`.
    public var truncated: Bool
    /// Whether more events follow the last one returned.
    public var hasMore: Bool
    /// Whether more events than the reader's total limit follow the offset (no events returned).
    public var exceedsTotal: Bool

    public init(epoch: String?, events: [HistoryEvent], truncated: Bool, hasMore: Bool, exceedsTotal: Bool = false) {
        self.epoch = epoch
        self.events = events
        self.truncated = truncated
        self.hasMore = hasMore
        self.exceedsTotal = exceedsTotal
    }
}
