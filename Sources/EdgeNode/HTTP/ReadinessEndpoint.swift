import NIOCore

/// `GET /readyz`: 200 when the node takes new clients; 503 with the reason (draining, or the
/// broker and what is wrong with it) otherwise.
struct ReadinessEndpoint: HTTPEndpoint {
    let readiness: NodeReadiness

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        guard !readiness.isReady else { return eventLoop.makeSucceededFuture(.json(.ok, ["status": "ready"])) }
        let reason = readiness.isDraining ? "draining" : !readiness.brokerReady ? "broker unavailable" : "full"
        var body = ["status": "not_ready", "reason": reason]
        if reason == "broker unavailable", let detail = readiness.brokerProblem { body["detail"] = detail }
        if reason == "full" { body["detail"] = "\(readiness.openConnections) of \(readiness.maxConnections) connections" }
        return eventLoop.makeSucceededFuture(.json(.serviceUnavailable, body))
    }
}
