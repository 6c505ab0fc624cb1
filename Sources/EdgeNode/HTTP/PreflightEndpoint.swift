import NIOCore
import NIOHTTP1

/// `OPTIONS` on a browser-facing path: the CORS preflight a `POST` with `Authorization` or a
/// JSON body causes.
struct PreflightEndpoint: HTTPEndpoint {
    /// The methods the path serves.
    let methods: String

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        var response = HTTPResponse(status: .noContent, body: [], contentType: "text/plain")
        response.headers = CrossOrigin.headers(for: request.head)
        response.headers.add(name: "access-control-allow-methods", value: methods)
        response.headers.add(name: "access-control-allow-headers", value: "authorization, content-type, last-event-id")
        response.headers.add(name: "access-control-max-age", value: "600")
        return eventLoop.makeSucceededFuture(response)
    }
}
