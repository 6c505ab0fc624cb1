import NIOConcurrencyHelpers
import NIOCore
import PubSubBridge

/// Per account on this node: which event loops (shards) hold its connections, the last history
/// offset delivered, and the events held back while the node catches up after a Redis outage.
///
/// The broker subscribes while at least one shard holds the account; the rest is forgotten when
/// the last one leaves.
final class AccountInterest: Sendable {
    /// What to do with an event arriving from the broker.
    enum Admission: Equatable {
        /// Deliver to the shards in the mask.
        case deliver(shards: UInt64)
        /// Held for after the catch-up, or a duplicate of what was delivered, or nobody here.
        case skip
        /// Held, but the catch-up has held too many: end it now (the gap is reported).
        case overflow
    }

    /// Live events one account may hold while its catch-up runs.
    static let maxHeldEvents = 10_000

    private struct AccountState {
        var shards: UInt64 = 0
        var delivered: StreamOffset?
        var held: [ByteBuffer]?
    }

    private let accounts = NIOLockedValueBox<[String: AccountState]>([:])
    private let broker: any EventBroker

    init(broker: any EventBroker) {
        self.broker = broker
    }

    /// Shard `index` now has the account; the first shard makes the broker subscribe.
    func join(account: String, shard index: Int) {
        accounts.withLockedValue { map in
            let before = map[account]?.shards ?? 0
            map[account, default: AccountState()].shards = before | (1 << UInt64(index))
            if before == 0 { broker.retain(account: account) }
        }
    }

    /// Shard `index` no longer has the account; the last shard makes the broker unsubscribe.
    func leave(account: String, shard index: Int) {
        accounts.withLockedValue { map in
            guard let before = map[account]?.shards else { return }
            let after = before & ~(1 << UInt64(index))
            if after == 0 {
                map[account] = nil
                broker.release(account: account)
            } else {
                map[account]!.shards = after
            }
        }
    }

    /// Decides an event's fate: held during a catch-up (unless it is the catch-up's own), dropped
    /// when its offset was already delivered (the seam between history and live), else delivered
    /// and remembered.
    func admit(account: String, payload: ByteBuffer, offset: StreamOffset?, fromCatchUp: Bool = false) -> Admission {
        accounts.withLockedValue { map in
            guard var state = map[account], state.shards != 0 else { return .skip }
            if state.held != nil && !fromCatchUp {
                state.held!.append(payload)
                map[account] = state
                return state.held!.count > Self.maxHeldEvents ? .overflow : .skip
            }
            if let offset {
                if let delivered = state.delivered, delivered.epoch == offset.epoch, offset <= delivered { return .skip }
                state.delivered = offset
                map[account] = state
            }
            return .deliver(shards: state.shards)
        }
    }

    /// Starts holding live events of every account with a known offset; returns where each resumes.
    func beginCatchUp() -> [(account: String, after: StreamOffset)] {
        accounts.withLockedValue { map in
            var resume: [(String, StreamOffset)] = []
            for (account, state) in map {
                guard let delivered = state.delivered, state.held == nil else { continue }
                map[account]!.held = []
                resume.append((account, delivered))
            }
            return resume
        }
    }

    /// Whether `account` is still catching up (an abandoned catch-up must not deliver late pages).
    func isCatchingUp(account: String) -> Bool {
        accounts.withLockedValue { $0[account]?.held != nil }
    }

    /// Ends the catch-up of `account`, returning the live events held meanwhile, in arrival order.
    func endCatchUp(account: String) -> [ByteBuffer] {
        accounts.withLockedValue { map in
            let held = map[account]?.held ?? []
            map[account]?.held = nil
            return held
        }
    }

    /// Records that a history epoch change was reported, so later events of the new epoch flow.
    func resetOffset(account: String) {
        accounts.withLockedValue { $0[account]?.delivered = nil }
    }
}
