import HeraldBroker
import HeraldProtocol
import NIOConcurrencyHelpers
import NIOCore

/// Per account on this node: which event loops (shards) hold its connections, how far the node
/// has delivered its history, and the live events held back while the node reads what it missed.
///
/// The node owes its connections every event after the offset they started from. It can only
/// keep that promise from the moment the broker confirms the subscription, so each account starts
/// out holding live events, and every confirmation (the first one, and each one after the broker
/// reconnects) starts a catch-up: history after the last delivered offset goes out first, then the
/// held live events, duplicates dropped at the seam.
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

    /// A catch-up to run: read history after `after`; pages and the end carry `generation`, so a
    /// catch-up superseded by a newer one (the broker reconnected again) does nothing.
    struct CatchUp: Equatable {
        var account: String
        var after: StreamOffset
        var generation: UInt64
    }

    /// Live events one account may hold while its catch-up runs.
    static let maxHeldEvents = 10_000

    private struct AccountState {
        var shards: UInt64 = 0
        /// The newest history offset delivered to this node's connections of the account (or the
        /// offset the first of them started from): every later event is still owed to them.
        var delivered: StreamOffset?
        /// Live events waiting for a catch-up to finish; nil while events flow.
        var held: [ByteBuffer]? = []
        /// The current catch-up, if one runs.
        var catchUp: UInt64?
    }

    private struct State {
        var accounts: [String: AccountState] = [:]
        var lastGeneration: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let broker: any EventBroker

    init(broker: any EventBroker) {
        self.broker = broker
    }

    /// Shard `index` now holds a connection of the account that is owed every event after `start`.
    ///
    /// Returns the offset after which the node itself will deliver everything to the account's
    /// connections (nil when unknown): a connection that started earlier must replay the
    /// difference from history itself. The first shard makes the broker subscribe.
    func join(account: String, shard index: Int, start: StreamOffset?) -> StreamOffset? {
        // The broker is told outside the lock: it may report the subscription at once, which
        // comes back here. Interest is reference-counted, so the order of calls from different
        // shards does not matter.
        let (coverage, isNew) = state.withLockedValue { state -> (StreamOffset?, Bool) in
            guard var entry = state.accounts[account] else {
                state.accounts[account] = AccountState(shards: 1 << UInt64(index), delivered: start)
                return (start, true)
            }
            entry.shards |= 1 << UInt64(index)
            if entry.catchUp == nil, entry.held != nil, let start, let delivered = entry.delivered,
                start.epoch == delivered.epoch, start < delivered
            {
                // Still waiting for the subscription: nothing was delivered yet, so the catch-up
                // can simply start earlier.
                entry.delivered = start
            }
            state.accounts[account] = entry
            return (entry.delivered, false)
        }
        if isNew { broker.retain(account: account) }
        return coverage
    }

    /// Shard `index` no longer has the account; the last shard makes the broker unsubscribe.
    func leave(account: String, shard index: Int) {
        let isLast = state.withLockedValue { state -> Bool in
            guard let before = state.accounts[account]?.shards else { return false }
            let after = before & ~(1 << UInt64(index))
            if after == 0 {
                state.accounts[account] = nil
                return true
            }
            state.accounts[account]!.shards = after
            return false
        }
        if isLast { broker.release(account: account) }
    }

    /// The newest history offset delivered to the account's connections on this node.
    func delivered(account: String) -> StreamOffset? {
        state.withLockedValue { $0.accounts[account]?.delivered }
    }

    /// Decides a live event's fate: held while the account waits for its subscription or catches
    /// up, dropped when its offset was already delivered (the seam between history and live),
    /// else delivered and remembered.
    func admit(account: String, payload: ByteBuffer, offset: StreamOffset?) -> Admission {
        state.withLockedValue { state in
            guard var entry = state.accounts[account], entry.shards != 0 else { return .skip }
            if entry.held != nil {
                entry.held!.append(payload)
                let count = entry.held!.count
                state.accounts[account] = entry
                return count > Self.maxHeldEvents ? .overflow : .skip
            }
            return Self.advance(&state.accounts[account]!, to: offset)
        }
    }

    /// Admits an event read by catch-up `generation`; skipped when that catch-up is no longer current.
    func admitRecovered(account: String, offset: StreamOffset, generation: UInt64) -> Admission {
        state.withLockedValue { state in
            guard let entry = state.accounts[account], entry.catchUp == generation, entry.shards != 0 else { return .skip }
            return Self.advance(&state.accounts[account]!, to: offset)
        }
    }

    private static func advance(_ account: inout AccountState, to offset: StreamOffset?) -> Admission {
        if let offset {
            if let delivered = account.delivered, delivered.epoch == offset.epoch, offset <= delivered { return .skip }
            account.delivered = offset
        }
        return .deliver(shards: account.shards)
    }

    /// The broker now receives the account's events: start holding live events and return the
    /// catch-up to run, or nil when there is nothing to catch up from (then events flow at once).
    func subscribed(account: String) -> CatchUp? {
        state.withLockedValue { state in
            guard var entry = state.accounts[account] else { return nil }
            guard let delivered = entry.delivered else {
                entry.catchUp = nil
                state.accounts[account] = entry
                return nil
            }
            state.lastGeneration += 1
            entry.catchUp = state.lastGeneration
            if entry.held == nil { entry.held = [] }
            state.accounts[account] = entry
            return CatchUp(account: account, after: delivered, generation: state.lastGeneration)
        }
    }

    /// Whether catch-up `generation` of `account` is still the current one.
    func isCurrent(account: String, generation: UInt64) -> Bool {
        state.withLockedValue { $0.accounts[account]?.catchUp == generation }
    }

    /// Ends a catch-up (or the wait for a subscription with nothing to catch up from), returning
    /// the live events held meanwhile, in arrival order, for normal admission. With a
    /// `generation`, only that catch-up ends; a superseded one returns nothing.
    func endCatchUp(account: String, generation: UInt64?) -> [ByteBuffer] {
        state.withLockedValue { state in
            guard var entry = state.accounts[account], entry.catchUp == generation else { return [] }
            let held = entry.held ?? []
            entry.held = nil
            entry.catchUp = nil
            state.accounts[account] = entry
            return held
        }
    }

    /// Gives up on filling the account's gap (history cannot, or the hold overflowed): forgets
    /// the delivered offset so later events of a new epoch flow, ends any catch-up, and returns
    /// the held live events for normal admission once the gap has been reported.
    func abandonCatchUp(account: String) -> [ByteBuffer] {
        state.withLockedValue { state in
            guard var entry = state.accounts[account] else { return [] }
            let held = entry.held ?? []
            entry.delivered = nil
            entry.held = nil
            entry.catchUp = nil
            state.accounts[account] = entry
            return held
        }
    }
}
