import Foundation
import NIOCore
import NIOHTTP1

/// An endpoint's answer: a status and a body, JSON unless said otherwise — or the connection
/// itself, for an endpoint that streams (``takeover``).
struct HTTPResponse: Sendable {
    /// Installs the handlers that answer from here on (they write their own head and body); the
    /// request handler leaves the pipeline first. Called on the connection's event loop.
    typealias Takeover = @Sendable (Channel) throws -> Void

    var status: HTTPResponseStatus
    var body: [UInt8]
    var contentType = "application/json"
    /// Headers beyond content-type, content-length and connection (CORS, caching).
    var headers = HTTPHeaders()
    /// Set for a streaming answer: nothing above is written, the connection is handed over.
    var takeover: Takeover?

    /// Hands the connection to `takeover` (an event stream).
    static func stream(_ takeover: @escaping Takeover) -> HTTPResponse {
        var response = HTTPResponse(status: .ok, body: [])
        response.takeover = takeover
        return response
    }

    /// A JSON object body, keys sorted so answers are stable.
    static func json(_ status: HTTPResponseStatus, _ object: [String: Any]) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, body: Array(body))
    }

    /// The JSON body `{"error": code, "message": text}` of a refusal.
    init(_ refusal: HTTPRefusal) {
        self.init(status: refusal.status, body: refusal.body)
        if let seconds = refusal.retryAfter { headers.add(name: "retry-after", value: String(seconds)) }
    }

    init(status: HTTPResponseStatus, body: [UInt8], contentType: String = "application/json") {
        self.status = status
        self.body = body
        self.contentType = contentType
    }
}
