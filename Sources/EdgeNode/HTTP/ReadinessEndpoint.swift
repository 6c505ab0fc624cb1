import NIOCore

/// `GET /readyz`: 200 when the node takes new clients; 503 with the reason (draining, the broker
/// or the JWKS, and what is wrong with it) otherwise.
struct ReadinessEndpoint: HTTPEndpoint {
    let readiness: NodeReadiness

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        guard !readiness.isReady else { return eventLoop.makeSucceededFuture(.json(.ok, ["status": "ready"])) }
        var body = ["status": "not_ready"]
        if readiness.isDraining {
            body["reason"] = "draining"
        } else if !readiness.brokerReady {
            body["reason"] = "broker unavailable"
            body["detail"] = readiness.brokerProblem
        } else if !readiness.keysReady {
            body["reason"] = "jwks unavailable"
            body["detail"] = readiness.keysProblem
        } else {
            body["reason"] = "full"
            body["detail"] = "\(readiness.openConnections) of \(readiness.maxConnections) connections"
        }
        return eventLoop.makeSucceededFuture(.json(.serviceUnavailable, body))
    }
}
