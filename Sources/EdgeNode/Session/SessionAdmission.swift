import HeraldBroker
import HeraldProtocol
import NIOCore
import NIOHTTP1

/// Whether a client may open a session, whatever its transport: the node takes clients, the
/// request authenticates (``HandshakeAuthenticator``), and the account's history position can be
/// read — the offset the session will be owed every event after. Refusals are JSON HTTP answers.
struct SessionAdmission: Sendable {
    let authenticator: HandshakeAuthenticator
    let readiness: NodeReadiness
    let broker: any EventBroker
    let metrics: NodeMetrics

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
        if readiness.isDraining || !readiness.brokerReady {
            metrics.handshakesRefused.increment()
            return eventLoop.makeFailedFuture(HTTPRefusal(
                status: .serviceUnavailable, code: readiness.isDraining ? .draining : .unavailable,
                message: readiness.isDraining ? "this node is draining: reconnect" : "the broker is unavailable: retry shortly"))
        }
        let promise = eventLoop.makePromise(of: HandshakeAuthenticator.Acceptance.self)
        let (broker, metrics) = (self.broker, self.metrics)
        promise.completeWithTask { try await authenticate() }
        // Without a start offset (Redis unreachable or stalled) the session could not be owed
        // anything: refuse with 503 rather than start it without one.
        return promise.futureResult.flatMap { acceptance in
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
        .flatMapErrorThrowing { error in
            metrics.handshakesRefused.increment()
            throw (error as? HTTPRefusal) ?? (error as? AuthenticationError).map(HTTPRefusal.init)
                ?? HTTPRefusal(status: .unauthorized, code: .unauthorized, message: "authentication failed")
        }
    }
}
