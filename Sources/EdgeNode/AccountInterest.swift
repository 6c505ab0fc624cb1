import NIOConcurrencyHelpers

/// Which event loops (shards) hold connections of which account, so an event hops only to the
/// loops that need it, and the broker subscribes while at least one shard holds the account.
final class AccountInterest: Sendable {
    private let shardsByAccount = NIOLockedValueBox<[String: UInt64]>([:])
    private let broker: any EventBroker

    init(broker: any EventBroker) {
        self.broker = broker
    }

    /// Shard `index` now has the account; the first shard makes the broker subscribe.
    func join(account: String, shard index: Int) {
        shardsByAccount.withLockedValue { map in
            let before = map[account] ?? 0
            map[account] = before | (1 << UInt64(index))
            if before == 0 { broker.retain(account: account) }
        }
    }

    /// Shard `index` no longer has the account; the last shard makes the broker unsubscribe.
    func leave(account: String, shard index: Int) {
        shardsByAccount.withLockedValue { map in
            guard let before = map[account] else { return }
            let after = before & ~(1 << UInt64(index))
            map[account] = after == 0 ? nil : after
            if after == 0 { broker.release(account: account) }
        }
    }

    /// Bit i is set when shard i holds the account.
    func shards(for account: String) -> UInt64 {
        shardsByAccount.withLockedValue { $0[account] ?? 0 }
    }
}
