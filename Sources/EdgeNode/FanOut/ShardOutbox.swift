import NIOCore

/// Events on their way from the broker's event loop to the shards, handed over in one task per
/// shard per pass of the broker's loop: a read that carried many pub/sub messages costs each
/// other loop one cross-thread wake-up rather than one per event. Order per shard is kept, so
/// per-account publish order holds. Confined to the broker's loop.
struct ShardOutbox {
    private struct Delivery: Sendable {
        var event: OutboundEvent
        var account: String
    }

    private let shards: [NIOLoopBound<ConnectionShard>]
    private var pending: [[Delivery]]
    private var handOverQueued = false

    init(shards: [NIOLoopBound<ConnectionShard>]) {
        self.shards = shards
        pending = Array(repeating: [], count: shards.count)
    }

    /// Queues `event` for `shard`; true when the caller must schedule ``handOver()`` for the
    /// end of this pass (nothing was queued before it).
    mutating func queue(_ event: OutboundEvent, to account: String, shard: Int) -> Bool {
        pending[shard].append(Delivery(event: event, account: account))
        defer { handOverQueued = true }
        return !handOverQueued
    }

    /// Hands every queued event to its shard: one task per shard that has any.
    mutating func handOver() {
        handOverQueued = false
        for index in pending.indices where !pending[index].isEmpty {
            let batch = pending[index]
            pending[index].removeAll(keepingCapacity: true)
            let shard = shards[index]
            shard.eventLoop.execute {
                for delivery in batch { shard.value.deliver(delivery.event, to: delivery.account) }
            }
        }
    }
}
