import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore

/// Takes each broker event once per node: reads its routing, frames it once, and hops to each
/// event loop that holds connections of the account (one hop per loop per pass of the broker's
/// loop, however many events the pass read). Whenever the
/// broker (re)subscribes an account, it fills the gap from history before newer live events.
///
/// Everything here runs on the broker's event loop, so live events, history pages and the end of
/// each catch-up are handled in one order.
final class EventFanOut: Sendable {
    let shards: [NIOLoopBound<ConnectionShard>]
    private let interest: AccountInterest
    private let broker: any EventBroker
    private let presence: PresenceTracker
    private let metrics: NodeMetrics
    private let logger: Logger
    private let allocator = ByteBufferAllocator()
    /// Each transport's framing; sessions retain theirs while they run.
    let encodings: FrameEncodings
    private let dropLog = LogThrottle<EventRouting.DropReason>(interval: EventFanOut.dropLogInterval)
    /// Events gathered during one pass of the broker's loop, handed to each shard in one task.
    private let outbox: NIOLoopBoundBox<ShardOutbox>

    /// History events read per catch-up request.
    static let catchUpPageSize = 200
    /// Reads tried (250 ms apart) while the command connection comes back, before giving up.
    static let catchUpAttempts = 120
    /// At most one log line per drop reason per interval; the metric counts every drop.
    static let dropLogInterval = TimeAmount.seconds(10)

    init(
        shards: [NIOLoopBound<ConnectionShard>], interest: AccountInterest, broker: any EventBroker,
        presence: PresenceTracker, encodings: FrameEncodings, metrics: NodeMetrics, logger: Logger
    ) {
        self.shards = shards
        self.encodings = encodings
        self.interest = interest
        self.broker = broker
        self.presence = presence
        self.metrics = metrics
        self.logger = logger
        self.outbox = .makeBoxSendingValue(ShardOutbox(shards: shards), eventLoop: broker.eventLoop)
    }

    /// The shard serving `eventLoop`; call on that loop.
    func shard(for eventLoop: EventLoop) -> ConnectionShard? {
        shards.first { $0.eventLoop === eventLoop }?.value
    }

    /// Delivers one published payload to the account's local connections. Runs on the broker's loop.
    func deliver(account: String, payload: ByteBuffer) {
        metrics.eventsReceived.increment()
        admit(account: account, payload: payload)
    }

    private func admit(account: String, payload: ByteBuffer) {
        let routing: EventRouting
        do {
            routing = try EventRouting.parse(payload.readableBytesView)
        } catch {
            drop(account: account, bytes: payload.readableBytes, rejection: error)
            return
        }
        if routing.type == ReservedEventType.typingStart { presence.typingSeen(account: account) }
        let offset = routing.offset.flatMap(StreamOffset.init)
        switch interest.admit(account: account, payload: payload, offset: offset) {
        case .deliver(let mask):
            send(outbound(payload, routing: routing, offset: offset), to: account, shards: mask)
        case .overflow:
            logger.warning("catch-up held too many live events; reporting a gap", metadata: ["account": "\(account)"])
            abandonCatchUp(account: account)
        case .skip:
            break
        }
    }

    /// Counts an event that fails closed (never delivered to anyone) and logs it, throttled per reason.
    private func drop(account: String, bytes: Int, rejection: EventRouting.Rejection) {
        metrics.eventsDropped.increment()
        metrics.eventsRejected[rejection.reason]?.increment()
        guard let suppressed = dropLog.admit(rejection.reason) else { return }
        logger.warning("dropped an event that cannot be delivered safely", metadata: [
            "account": "\(account)", "event.drop_reason": "\(rejection.reason.rawValue)", "event.problem": "\(rejection.detail)",
            "event.bytes": "\(bytes)", "log.suppressed": "\(suppressed)",
        ])
    }

    /// The event encoded once for every transport, with its routing.
    private func outbound(_ payload: ByteBuffer, routing: EventRouting, offset: StreamOffset?) -> OutboundEvent {
        OutboundEvent(
            frames: encodings.encode(payload, offset: offset, allocator: allocator), payload: payload, routing: routing, offset: offset,
            size: payload.readableBytes)
    }

    /// Queues `event` for every shard in `mask`; the shards get it at the end of this pass of
    /// the broker's loop, together with the other events of the pass.
    private func send(_ event: OutboundEvent, to account: String, shards mask: UInt64) {
        var handOverNeeded = false
        for index in shards.indices where mask & (1 << UInt64(index)) != 0 {
            if outbox.value.queue(event, to: account, shard: index) { handOverNeeded = true }
        }
        guard handOverNeeded else { return }
        broker.eventLoop.assumeIsolated().execute { self.outbox.value.handOver() }
    }

    /// The broker now receives the account's events (a first subscription, or again after a
    /// reconnect): fill the gap since the last delivered offset from history, in pages, while
    /// the account's live events wait. Runs on the broker's loop.
    func subscribed(account: String) {
        guard let catchUp = interest.subscribed(account: account) else {
            for payload in interest.endCatchUp(account: account, generation: nil) { admit(account: account, payload: payload) }
            return
        }
        logger.debug("catching up from history", metadata: ["account": "\(account)", "history.offset": "\(catchUp.after)"])
        readPage(catchUp, attempt: 0)
    }

    private func readPage(_ catchUp: AccountInterest.CatchUp, attempt: Int) {
        let account = catchUp.account
        let loop = broker.eventLoop
        broker.history(account: account, after: catchUp.after, limit: Self.catchUpPageSize, total: nil).hop(to: loop).whenComplete { result in
            guard self.interest.isCurrent(account: account, generation: catchUp.generation) else { return }
            switch result {
            case .success(let page) where page.truncated:
                self.logger.warning("history gap cannot be filled", metadata: ["account": "\(account)"])
                self.abandonCatchUp(account: account)
            case .success(let page):
                for event in page.events { self.deliverRecovered(event, catchUp: catchUp) }
                if page.hasMore, let last = page.events.last {
                    var next = catchUp
                    next.after = last.offset
                    self.readPage(next, attempt: 0)
                } else {
                    for payload in self.interest.endCatchUp(account: account, generation: catchUp.generation) {
                        self.admit(account: account, payload: payload)
                    }
                }
            case .failure(let error) where attempt < Self.catchUpAttempts:
                self.logger.debug("history read failed; retrying", metadata: ["account": "\(account)", "error": "\(error)"])
                loop.scheduleTask(in: .milliseconds(250)) { self.readPage(catchUp, attempt: attempt + 1) }
            case .failure:
                self.abandonCatchUp(account: account)
            }
        }
    }

    /// A history event goes out like a live one, past the hold that its own catch-up set.
    private func deliverRecovered(_ event: HistoryEvent, catchUp: AccountInterest.CatchUp) {
        guard let routing = EventRouting.decode(event.payload.readableBytesView),
            case .deliver(let mask) = interest.admitRecovered(account: catchUp.account, offset: event.offset, generation: catchUp.generation)
        else { return }
        send(outbound(event.payload, routing: routing, offset: event.offset), to: catchUp.account, shards: mask)
    }

    /// Reports the gap to the account's clients here, then lets the held live events through.
    private func abandonCatchUp(account: String) {
        let held = interest.abandonCatchUp(account: account)
        announceGap(account: account)
        for payload in held { admit(account: account, payload: payload) }
    }

    /// Tells the account's clients on this node that events may be missing, so they refetch.
    private func announceGap(account: String) {
        let message = ServerMessage.recovery(recovered: false, count: 0, reason: "history_lost").encoded()
        let payload = ByteBuffer(bytes: message)
        guard case .deliver(let mask) = interest.admit(account: account, payload: payload, offset: nil) else { return }
        send(outbound(payload, routing: EventRouting(), offset: nil), to: account, shards: mask)
    }
}
