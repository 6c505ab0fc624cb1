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

    /// The accepted identity and start, or fails with the ``HTTPRefusal`` to answer.
    func admit(_ head: HTTPRequestHead, on eventLoop: EventLoop) -> EventLoopFuture<HandshakeAuthenticator.Acceptance> {
        if readiness.isDraining || !readiness.brokerReady || !readiness.keysReady {
            metrics.handshakesRefused.increment()
            let message =
                readiness.isDraining ? "this node is draining: reconnect"
                : readiness.brokerReady ? "the token keys (JWKS) are not loaded yet: retry shortly" : "the broker is unavailable: retry shortly"
            return eventLoop.makeFailedFuture(HTTPRefusal(
                status: .serviceUnavailable, code: readiness.isDraining ? .draining : .unavailable, message: message))
        }
        let promise = eventLoop.makePromise(of: HandshakeAuthenticator.Acceptance.self)
        let (authenticator, broker, metrics) = (self.authenticator, self.broker, self.metrics)
        promise.completeWithTask { try await authenticator.authenticate(head) }
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
