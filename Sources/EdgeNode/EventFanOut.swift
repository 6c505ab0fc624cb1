import HeraldProtocol
import Logging
import NIOCore

/// Takes each broker event once per node: reads its routing, frames it once, and hops to each
/// event loop that holds connections of the account (one hop per loop per event).
final class EventFanOut: Sendable {
    let shards: [NIOLoopBound<ConnectionShard>]
    private let interest: AccountInterest
    private let metrics: NodeMetrics
    private let logger: Logger
    private let allocator = ByteBufferAllocator()

    init(shards: [NIOLoopBound<ConnectionShard>], interest: AccountInterest, metrics: NodeMetrics, logger: Logger) {
        self.shards = shards
        self.interest = interest
        self.metrics = metrics
        self.logger = logger
    }

    /// The shard serving `eventLoop`; call on that loop.
    func shard(for eventLoop: EventLoop) -> ConnectionShard? {
        shards.first { $0.eventLoop === eventLoop }?.value
    }

    /// Delivers one published payload to the account's local connections.
    func deliver(account: String, payload: ByteBuffer) {
        metrics.eventsReceived.increment()
        guard let routing = EventRouting.decode(payload.readableBytesView) else {
            metrics.eventsDropped.increment()
            logger.warning("dropped an event that is not a JSON object", metadata: ["account": "\(account)", "event.bytes": "\(payload.readableBytes)"])
            return
        }
        let event = OutboundEvent(frame: WebSocketTextFrame.encode(payload, allocator: allocator), routing: routing)
        let mask = interest.shards(for: account)
        guard mask != 0 else { return }
        for (index, shard) in shards.enumerated() where mask & (1 << UInt64(index)) != 0 {
            shard.eventLoop.execute { shard.value.deliver(event, to: account) }
        }
    }
}
