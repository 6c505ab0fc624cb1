import Foundation
import NIOHTTP1

/// An endpoint's answer: a status and a body, JSON unless said otherwise.
struct HTTPResponse: Sendable {
    var status: HTTPResponseStatus
    var body: [UInt8]
    var contentType = "application/json"
    /// Headers beyond content type and length.
    var headers: [(String, String)] = []

    /// A JSON object body, keys sorted so answers are stable.
    static func json(_ status: HTTPResponseStatus, _ object: [String: Any]) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, body: Array(body))
    }

    /// The JSON body `{"error": code, "message": text}` of a refusal.
    init(_ refusal: HTTPRefusal) {
        self.init(status: refusal.status, body: refusal.body)
        if let seconds = refusal.retryAfter { headers.append(("retry-after", String(seconds))) }
    }

    init(status: HTTPResponseStatus, body: [UInt8], contentType: String = "application/json") {
        self.status = status
        self.body = body
        self.contentType = contentType
    }
}
