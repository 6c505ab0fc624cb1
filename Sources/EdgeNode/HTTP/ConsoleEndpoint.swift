import NIOCore
import NIOHTTP1

/// One file of the live console (`GET /console`, `/console/console.js`, `/console/herald.js`),
/// served from memory. Off unless `HERALD_CONSOLE` is on. The page needs no credentials of its
/// own: a person types a client token (and, to publish, an API key) into it, and it talks to this
/// node only — the content security policy allows nothing else, not even inline scripts.
struct ConsoleEndpoint: HTTPEndpoint {
    let body: [UInt8]
    let contentType: String

    static let headers: HTTPHeaders = [
        "cache-control": "no-cache",
        "content-security-policy":
            "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    ]

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        var response = HTTPResponse(status: .ok, body: body, contentType: contentType)
        response.headers = Self.headers
        return eventLoop.makeSucceededFuture(response)
    }
}

extension ConsoleEndpoint {
    /// Adds the console's three routes.
    static func install(_ assets: ConsoleAssets, into router: inout HTTPRouter) {
        router.add(.GET, "/console", ConsoleEndpoint(body: assets.page, contentType: "text/html; charset=utf-8"))
        router.add(.GET, "/console/console.js", ConsoleEndpoint(body: assets.script, contentType: "text/javascript; charset=utf-8"))
        router.add(.GET, "/console/herald.js", ConsoleEndpoint(body: assets.client, contentType: "text/javascript; charset=utf-8"))
    }
}
