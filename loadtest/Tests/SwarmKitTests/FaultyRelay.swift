import FloorServer
import NIOConcurrencyHelpers
import NIOCore
import SwarmKit

/// A floor relay that misbehaves on purpose for one account, so the test knows exactly what
/// swarm must report: it drops the events with sequences in `drop`, sends those in `duplicate`
/// twice, and holds back `swap.first` until `swap.second` was sent (so they arrive swapped).
final class FaultyRelay: FloorRelay {
    let faultyKey: String
    let drop: Set<UInt64>
    let duplicate: Set<UInt64>
    let swap: (first: UInt64, second: UInt64)
    private let held = NIOLockedValueBox<ByteBuffer?>(nil)

    init(faultyKey: String, drop: Set<UInt64>, duplicate: Set<UInt64>, swap: (UInt64, UInt64)) {
        self.faultyKey = faultyKey
        self.drop = drop
        self.duplicate = duplicate
        self.swap = swap
    }

    func deliveries(key: String, body: ByteBuffer) -> [ByteBuffer] {
        guard key == faultyKey, let stamp = EventStamp.find(in: body) else { return [body] }
        switch stamp.sequence {
        case let sequence where drop.contains(sequence): return []
        case let sequence where duplicate.contains(sequence): return [body, body]
        case swap.first:
            held.withLockedValue { $0 = body }
            return []
        case swap.second:
            let first: ByteBuffer? = held.withLockedValue { held in
                defer { held = nil }
                return held
            }
            return [body] + (first.map { [$0] } ?? [])
        default: return [body]
        }
    }
}
