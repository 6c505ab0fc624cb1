import NIOCore
import NIOHTTP1

/// CORS for the endpoints browsers call from the app's own origin (SSE streams, their posted
/// messages, Socket.IO polling). Credentials travel as tokens, never cookies, so the answer
/// names the caller's `Origin` without `allow-credentials`; the origin allow-list
/// (`HERALD_ALLOWED_ORIGINS`) is enforced by the session admission, not by the browser.
enum CrossOrigin {
    /// Headers that let the page at the request's `Origin` read the answer.
    static func headers(for head: HTTPRequestHead) -> HTTPHeaders {
        var headers = HTTPHeaders()
        guard let origin = head.headers.first(name: "origin") else { return headers }
        headers.add(name: "access-control-allow-origin", value: origin)
        headers.add(name: "vary", value: "origin")
        return headers
    }
}
