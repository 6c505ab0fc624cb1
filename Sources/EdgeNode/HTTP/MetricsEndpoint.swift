import NIOCore

/// `GET /metrics`: the Prometheus text exposition of the node's metrics.
struct MetricsEndpoint: HTTPEndpoint {
    let metrics: NodeMetrics

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        eventLoop.makeSucceededFuture(HTTPResponse(status: .ok, body: metrics.exposition(), contentType: "text/plain; version=0.0.4"))
    }
}
