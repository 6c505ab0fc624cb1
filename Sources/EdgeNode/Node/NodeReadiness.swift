import Atomics
import HeraldBroker

/// Whether the node should receive new clients (the broker is up, the token keys are loaded and
/// the node is not draining), and how many clients it holds, which the drain waits on.
final class NodeReadiness: Sendable {
    private let draining = ManagedAtomic(false)
    private let connections = ManagedAtomic(0)
    private let broker: any EventBroker
    private let keys: JWKSSource?

    init(broker: any EventBroker, keys: JWKSSource? = nil) {
        self.broker = broker
        self.keys = keys
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    var brokerReady: Bool { broker.isReady }
    /// Why the broker is not ready (for `/readyz`); nil when it is.
    var brokerProblem: String? { broker.readinessProblem }
    /// Whether tokens can be verified: true unless a JWKS URL is configured and no fetch of it
    /// has succeeded yet.
    var keysReady: Bool { keys?.isReady ?? true }
    /// Why the JWKS is not loaded (for `/readyz`); nil when it is.
    var keysProblem: String? { keysReady ? nil : keys?.problem }
    var isReady: Bool { !isDraining && brokerReady && keysReady }

    var openConnections: Int { connections.load(ordering: .relaxed) }
    func connectionOpened() { connections.wrappingIncrement(ordering: .relaxed) }
    func connectionClosed() { connections.wrappingDecrement(ordering: .relaxed) }

    func beginDraining() { draining.store(true, ordering: .relaxed) }
}
