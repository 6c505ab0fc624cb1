import HeraldBroker
import HeraldProtocol
import NIOCore

/// One connection's place in its account's history, as a value: which live events to write, hold
/// or drop, and how each replay from history proceeds. The connection handler carries out the
/// steps it returns.
///
/// A connection is owed every event after its base: the offset of its `connected` frame, or the
/// offset it resumed from. Live events at or below the last offset written are duplicates (the
/// seam between a replay and live delivery) and are dropped. While a replay runs, live events are
/// held and written after it, so a client always sees the older events first.
struct ConnectionRecovery {
    /// Why a replay runs, which decides what it delivers and whether it answers with `recovery`.
    enum Purpose: Equatable, Sendable {
        /// The client asked (`?since=` or `resume`): everything it may see, answered with `recovery`.
        case resume
        /// Events published between the client's start offset and its joining the node's fan-out:
        /// silent unless it fails.
        case joinGap
        /// Older events of a sub-channel just subscribed: only that channel's events at or below
        /// what the connection already has. Answers with `recovery` when `reports`, or on failure;
        /// then with the subscribe's `ack` (`ref`), so an ack means the channel is caught up.
        case channel(String, reports: Bool, ref: MessageReference?)
    }

    /// What to do with a live event.
    enum LiveDecision: Equatable {
        case write
        /// Already written (a replay carried it).
        case drop
        /// Held until the running replay ends.
        case hold
        /// Held, but the held bytes are over the limit: the client is too slow.
        case overflow
    }

    /// The next step of a replay.
    enum Step {
        /// Read up to `limit` history events after `after` (only while the connection is writable);
        /// `total`, on a replay's first read, lets the broker say at once that too many follow.
        case read(after: StreamOffset, limit: Int, total: Int?)
        /// The replay is over: send `messages`, then write the held live events.
        case finish([ServerMessage], held: [OutboundEvent])
    }

    private struct Replay {
        var purpose: Purpose
        var after: StreamOffset
        /// The last offset written when the replay began.
        var below: StreamOffset?
        var scanned = 0
        var delivered = 0
        var held: [OutboundEvent] = []
        var heldBytes = 0
    }

    /// History events requested per page of a replay.
    static let pageSize = 100

    /// Most history events one replay may read; beyond, it answers `recovered:false` (`too_many`).
    let maxReplayEvents: Int
    /// Bytes of live events held during a replay before the client counts as too slow.
    let maxHeldBytes: Int
    /// Where the connection's recovery counts from: its start offset, or where it resumed from.
    private(set) var base: StreamOffset?
    /// Whether the client resumed (so channel replays answer with `recovery` too).
    private(set) var resumed = false
    /// The newest offset written to the connection (its start offset before any event).
    private(set) var last: StreamOffset?
    /// The running replay, held out of line: most connections never replay, and its state is
    /// larger than the rest of this machine (memory per idle connection counts).
    private var replay: Replay? {
        get { replayBox?.value }
        set { replayBox = newValue.map { ReplayBox($0) } }
        _modify {
            // Copy on write: a box shared with a copy of this value is copied before mutation.
            if replayBox == nil || !isKnownUniquelyReferenced(&replayBox!) { replayBox = ReplayBox(replayBox?.value) }
            yield &replayBox!.value
            if replayBox?.value == nil { replayBox = nil }
        }
    }
    private var replayBox: ReplayBox?

    private final class ReplayBox {
        var value: Replay?
        init(_ value: Replay?) { self.value = value }
    }

    init(start: StreamOffset?, maxReplayEvents: Int, maxHeldBytes: Int) {
        self.base = start
        self.last = start
        self.maxReplayEvents = maxReplayEvents
        self.maxHeldBytes = maxHeldBytes
    }

    var isReplaying: Bool { replay != nil }

    /// Where a replay for a sub-channel subscribed now must start (the base), or nil when none is
    /// needed: only when neither this connection (its own replays read history directly) nor the
    /// node (`nodeDelivered`) has gone past the base. Otherwise the channel's later events would be
    /// dropped here as duplicates, and its earlier ones went to the account before the subscribe.
    func channelReplayStart(nodeDelivered: StreamOffset?) -> StreamOffset? {
        guard let base else { return nil }
        return Self.isBehind(base, last) || Self.isBehind(base, nodeDelivered) ? base : nil
    }

    /// Whether events after `offset` may already have gone out before `coverage` (unknown or of
    /// another epoch counts as yes).
    static func isBehind(_ offset: StreamOffset, _ coverage: StreamOffset?) -> Bool {
        guard let coverage, coverage.epoch == offset.epoch else { return true }
        return offset < coverage
    }

    /// Decides a live event's fate.
    mutating func live(_ event: OutboundEvent) -> LiveDecision {
        if replay != nil {
            replay!.held.append(event)
            replay!.heldBytes += event.size
            return replay!.heldBytes > maxHeldBytes ? .overflow : .hold
        }
        guard let offset = event.offset else { return .write }
        if let last, last.epoch == offset.epoch, offset <= last { return .drop }
        last = offset
        return .write
    }

    /// Starts a replay after `after` and returns its first read. Call only when not replaying.
    mutating func begin(_ purpose: Purpose, after: StreamOffset) -> Step {
        precondition(replay == nil, "one replay at a time")
        if purpose == .resume {
            base = after
            resumed = true
        }
        replay = Replay(purpose: purpose, after: after, below: last)
        return .read(after: after, limit: nextLimit, total: maxReplayEvents)
    }

    private var nextLimit: Int { max(1, min(Self.pageSize, maxReplayEvents - (replay?.scanned ?? 0) + 1)) }

    /// Takes one page of the running replay: the event payloads to write now, in order, and the next step.
    mutating func receive(_ page: HistoryPage, selects: (EventRouting) -> Bool) -> (writes: [ByteBuffer], next: Step) {
        guard replay != nil else { return ([], .finish([], held: [])) }
        if page.truncated { return ([], finish(recovered: false, reason: "out_of_window")) }
        if page.exceedsTotal { return ([], finish(recovered: false, reason: "too_many")) }
        var writes: [ByteBuffer] = []
        for event in page.events {
            replay!.scanned += 1
            if replay!.scanned > maxReplayEvents { return (writes, finish(recovered: false, reason: "too_many")) }
            replay!.after = event.offset
            guard let routing = EventRouting.decode(event.payload.readableBytesView), selects(routing) else { continue }
            if case .channel(let channel, _, _) = replay!.purpose, let below = replay!.below, below.epoch == event.offset.epoch,
                event.offset <= below, routing.channel?.matches(channel) != true
            {
                continue
            }
            replay!.delivered += 1
            writes.append(event.payload)
        }
        guard page.hasMore else { return (writes, finish(recovered: true, reason: nil)) }
        return (writes, .read(after: replay!.after, limit: nextLimit, total: nil))
    }

    /// The running replay could not read history.
    mutating func fail(reason: String) -> Step {
        finish(recovered: false, reason: reason)
    }

    private mutating func finish(recovered: Bool, reason: String?) -> Step {
        guard let finished = replay else { return .finish([], held: []) }
        replay = nil
        if recovered {
            // Everything up to where the replay read is written or not for this connection, so live
            // copies of it are duplicates.
            let alreadyPast = last.map { $0.epoch == finished.after.epoch && finished.after <= $0 } ?? false
            if !alreadyPast { last = finished.after }
        }
        let message = ServerMessage.recovery(recovered: recovered, count: finished.delivered, reason: reason, channel: nil)
        switch finished.purpose {
        case .resume:
            return .finish([message], held: finished.held)
        case .joinGap:
            return .finish(recovered ? [] : [message], held: finished.held)
        case .channel(let channel, let reports, let ref):
            let message = ServerMessage.recovery(recovered: recovered, count: finished.delivered, reason: reason, channel: channel)
            let answer = recovered && !reports ? [] : [message]
            return .finish(answer + (ref.map { [.ack(ref: $0)] } ?? []), held: finished.held)
        }
    }
}
