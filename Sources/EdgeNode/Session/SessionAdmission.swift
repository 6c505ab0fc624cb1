import Atomics
import HeraldBroker
import HeraldProtocol
import NIOCore
import NIOHTTP1

/// Whether a client may open a session, whatever its transport: the node takes clients (not
/// draining, broker up, under its connection limit and its limit of handshakes in progress), the
/// request authenticates (``HandshakeAuthenticator``), the user is under its per-node connection
/// limit, and the account's history position can be read — the offset the session will be owed
/// every event after. Refusals are JSON HTTP answers, with `Retry-After` when temporary.
struct SessionAdmission: Sendable {
    let authenticator: HandshakeAuthenticator
    let readiness: NodeReadiness
    let broker: any EventBroker
    let metrics: NodeMetrics
    /// Sessions one user may hold on this node.
    let maxConnectionsPerUser: Int
    /// Handshakes being checked at once; more are refused rather than queued.
    let maxPendingHandshakes: Int
    let pendingHandshakes = ManagedAtomic(0)

    /// Seconds a client is asked to wait before trying a full or busy node again.
    static let retryAfterSeconds = 5

    /// The accepted identity and start of a WebSocket upgrade, or fails with the ``HTTPRefusal`` to answer.
    func admit(_ head: HTTPRequestHead, on eventLoop: EventLoop) -> EventLoopFuture<HandshakeAuthenticator.Acceptance> {
        let authenticator = self.authenticator
        return admit(on: eventLoop) { try await authenticator.authenticate(head) }
    }

    /// The accepted identity and start of credentials another transport carried (an SSE request,
    /// a Socket.IO `CONNECT`), or fails with the ``HTTPRefusal`` to answer.
    func admit(_ credentials: HandshakeAuthenticator.Credentials, on eventLoop: EventLoop) -> EventLoopFuture<HandshakeAuthenticator.Acceptance> {
        let authenticator = self.authenticator
        return admit(on: eventLoop) { try await authenticator.authenticate(credentials) }
    }

    private func admit(
        on eventLoop: EventLoop, _ authenticate: @escaping @Sendable () async throws -> HandshakeAuthenticator.Acceptance
    ) -> EventLoopFuture<HandshakeAuthenticator.Acceptance> {
        if let refusal = nodeRefusal() {
            metrics.handshakesRefused.increment()
            return eventLoop.makeFailedFuture(refusal)
        }
        guard pendingHandshakes.wrappingIncrementThenLoad(ordering: .relaxed) <= maxPendingHandshakes else {
            pendingHandshakes.wrappingDecrement(ordering: .relaxed)
            metrics.handshakesRefused.increment()
            return eventLoop.makeFailedFuture(HTTPRefusal(
                status: .serviceUnavailable, code: .unavailable, message: "too many handshakes in progress: retry shortly", retryAfter: 1))
        }
        let promise = eventLoop.makePromise(of: HandshakeAuthenticator.Acceptance.self)
        let (broker, metrics, readiness) = (self.broker, self.metrics, self.readiness)
        let (maxPerUser, pending) = (maxConnectionsPerUser, pendingHandshakes)
        promise.completeWithTask { try await authenticate() }
        // Without a start offset (Redis unreachable or stalled) the session could not be owed
        // anything: refuse with 503 rather than start it without one.
        return promise.futureResult.flatMapThrowing { acceptance in
            let identity = acceptance.identity
            guard readiness.connections(account: identity.account, user: identity.user) < maxPerUser else {
                throw HTTPRefusal(
                    status: .tooManyRequests, code: .tooManyConnections,
                    message: "this user already holds \(maxPerUser) connections on this node", retryAfter: Self.retryAfterSeconds)
            }
            return acceptance
        }.flatMap { acceptance in
            broker.position(account: acceptance.identity.account)
                .flatMapErrorThrowing { _ -> StreamOffset in
                    throw HTTPRefusal(status: .serviceUnavailable, code: .unavailable, message: "the broker is unavailable: retry shortly")
                }
                .map { offset in
                    var acceptance = acceptance
                    acceptance.offset = offset.description
                    return acceptance
                }
        }
        .hop(to: eventLoop)
        .always { _ in pending.wrappingDecrement(ordering: .relaxed) }
        .flatMapErrorThrowing { error in
            metrics.handshakesRefused.increment()
            throw (error as? HTTPRefusal) ?? (error as? AuthenticationError).map(HTTPRefusal.init)
                ?? HTTPRefusal(status: .unauthorized, code: .unauthorized, message: "authentication failed")
        }
    }

    /// Why the node takes no client now, if it does not.
    private func nodeRefusal() -> HTTPRefusal? {
        if readiness.isDraining {
            return HTTPRefusal(status: .serviceUnavailable, code: .draining, message: "this node is draining: reconnect")
        }
        if !readiness.brokerReady {
            return HTTPRefusal(status: .serviceUnavailable, code: .unavailable, message: "the broker is unavailable: retry shortly")
        }
        if !readiness.keysReady {
            return HTTPRefusal(
                status: .serviceUnavailable, code: .unavailable, message: "the token keys (JWKS) are not loaded yet: retry shortly", retryAfter: 1)
        }
        if readiness.isFull {
            return HTTPRefusal(
                status: .serviceUnavailable, code: .nodeFull, message: "this node holds its \(readiness.maxConnections) connections: try another",
                retryAfter: Self.retryAfterSeconds)
        }
        return nil
    }
}
