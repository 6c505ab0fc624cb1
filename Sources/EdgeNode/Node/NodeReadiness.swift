import Atomics
import HeraldBroker

/// Whether the node should receive new clients (the broker is up and the node is not
/// draining), and how many clients it holds, which the drain waits on.
final class NodeReadiness: Sendable {
    private let draining = ManagedAtomic(false)
    private let connections = ManagedAtomic(0)
    private let broker: any EventBroker

    init(broker: any EventBroker) {
        self.broker = broker
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    var brokerReady: Bool { broker.isReady }
    /// Why the broker is not ready (for `/readyz`); nil when it is.
    var brokerProblem: String? { broker.readinessProblem }
    var isReady: Bool { !isDraining && brokerReady }

    var openConnections: Int { connections.load(ordering: .relaxed) }
    func connectionOpened() { connections.wrappingIncrement(ordering: .relaxed) }
    func connectionClosed() { connections.wrappingDecrement(ordering: .relaxed) }

    func beginDraining() { draining.store(true, ordering: .relaxed) }
}
