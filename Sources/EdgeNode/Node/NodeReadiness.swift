import Atomics
import HeraldBroker
import NIOConcurrencyHelpers

/// Whether the node should receive new clients — the broker is up, the token keys are loaded,
/// the node is not draining and not full — and how many clients it holds (in all and per user),
/// which the drain waits on and the admission checks against.
final class NodeReadiness: Sendable {
    private let draining = ManagedAtomic(false)
    private let connections = ManagedAtomic(0)
    private let perUser = NIOLockedValueBox<[[UInt8]: Int]>([:])
    private let broker: any EventBroker
    private let keys: JWKSSource?
    /// Sessions this node holds at most; at the limit it reports not ready and refuses more.
    let maxConnections: Int

    init(broker: any EventBroker, keys: JWKSSource? = nil, maxConnections: Int = .max) {
        self.broker = broker
        self.keys = keys
        self.maxConnections = maxConnections
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    var brokerReady: Bool { broker.isReady }
    /// Why the broker is not ready (for `/readyz`); nil when it is.
    var brokerProblem: String? { broker.readinessProblem }
    var isFull: Bool { openConnections >= maxConnections }
    /// Whether tokens can be verified: true unless a JWKS URL is configured and no fetch of it
    /// has succeeded yet.
    var keysReady: Bool { keys?.isReady ?? true }
    /// Why the JWKS is not loaded (for `/readyz`); nil when it is.
    var keysProblem: String? { keysReady ? nil : keys?.problem }
    var isReady: Bool { !isDraining && brokerReady && keysReady && !isFull }

    var openConnections: Int { connections.load(ordering: .relaxed) }

    /// Sessions of `user` in `account` on this node (ids compared byte for byte).
    func connections(account: String, user: String) -> Int {
        perUser.withLockedValue { $0[Self.key(account, user)] ?? 0 }
    }

    func connectionOpened(account: String, user: String) {
        connections.wrappingIncrement(ordering: .relaxed)
        perUser.withLockedValue { $0[Self.key(account, user), default: 0] += 1 }
    }

    func connectionClosed(account: String, user: String) {
        connections.wrappingDecrement(ordering: .relaxed)
        perUser.withLockedValue { counts in
            let key = Self.key(account, user)
            let remaining = (counts[key] ?? 1) - 1
            counts[key] = remaining > 0 ? remaining : nil
        }
    }

    func beginDraining() { draining.store(true, ordering: .relaxed) }

    private static func key(_ account: String, _ user: String) -> [UInt8] {
        Array(account.utf8) + [0] + Array(user.utf8)
    }
}
