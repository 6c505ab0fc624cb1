import NIOCore

/// `GET /healthz`: 200 while the process serves HTTP (liveness).
struct HealthEndpoint: HTTPEndpoint {
    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        eventLoop.makeSucceededFuture(.json(.ok, ["status": "ok"]))
    }
}
