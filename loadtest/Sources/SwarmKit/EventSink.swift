import NIOCore

/// One event waiting to be published: its account and sequence number. The payload (with the
/// send timestamp) is built when the event is actually written.
struct PendingEvent: Sendable {
    var account: Int
    var sequence: UInt64
}

/// A way of publishing events (Redis or HTTP). Confined to the publisher loop; per-account order
/// is kept by sending all events of one account over one connection in order.
protocol EventSink: AnyObject, Sendable {
    /// Opens the connections.
    func start() -> EventLoopFuture<Void>
    /// Whether another event may be queued now (the backlog is bounded).
    var canAccept: Bool { get }
    /// Queues one event.
    func submit(_ event: PendingEvent)
    /// Events queued or in flight.
    var backlog: Int { get }
    /// Closes the connections.
    func stop() -> EventLoopFuture<Void>
}

/// Builds the bytes of one event for a route, stamping the send time at call time.
struct EventEncoder: Sendable {
    var eventBytes: Int
    var accountName: @Sendable (Int) -> String

    /// `{"type":"swarm","data":{…}}`.
    func event(_ pending: PendingEvent) -> String {
        EventStamp(sequence: pending.sequence, sentAtNanoseconds: WallClock.nanoseconds()).eventJSON(eventBytes: eventBytes)
    }

    /// Herald's HTTP API body: `{"account":…,"type":"swarm","data":{…}}`.
    func heraldAPIBody(_ pending: PendingEvent) -> String {
        let data = EventStamp(sequence: pending.sequence, sentAtNanoseconds: WallClock.nanoseconds()).dataJSON(eventBytes: eventBytes)
        return #"{"account":"\#(accountName(pending.account))","type":"swarm","data":\#(data)}"#
    }
}
