import NIOCore

/// `GET /readyz`: 200 when the node takes new clients; 503 with the reason (draining, or the
/// broker and what is wrong with it) otherwise.
struct ReadinessEndpoint: HTTPEndpoint {
    let readiness: NodeReadiness

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        guard !readiness.isReady else { return eventLoop.makeSucceededFuture(.json(.ok, ["status": "ready"])) }
        var body = ["status": "not_ready", "reason": readiness.isDraining ? "draining" : "broker unavailable"]
        if !readiness.isDraining, let detail = readiness.brokerProblem { body["detail"] = detail }
        return eventLoop.makeSucceededFuture(.json(.serviceUnavailable, body))
    }
}
