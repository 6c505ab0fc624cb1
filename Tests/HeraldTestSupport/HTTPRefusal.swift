import Foundation

/// The server answered the WebSocket upgrade request with something other than `101 Switching Protocols`.
///
/// Thrown by ``TestWebSocketClient/connect(host:port:path:headers:group:timeout:maxFrameSize:receiveBufferSize:)``
/// after the whole response (head and body) has been read.
public struct HTTPRefusal: Error, Sendable, CustomStringConvertible {
    /// The HTTP status code, e.g. `403`.
    public var status: Int
    /// The response headers in the order the server sent them.
    public var headers: [(String, String)]
    /// The complete response body, decoded as UTF-8 (invalid sequences are replaced).
    public var body: String

    public init(status: Int, headers: [(String, String)], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of the header `name` (compared case-insensitively), if present.
    public func header(_ name: String) -> String? {
        self.headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// The body parsed as a JSON object, or `nil` when it is not one.
    public var json: [String: Any]? {
        guard let data = self.body.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    public var description: String {
        "HTTPRefusal(status: \(self.status), body: \(self.body.debugDescription))"
    }
}

/// Another name for ``HTTPRefusal``, for test files that also `@testable import EdgeNode`, whose internal
/// `HTTPRefusal` (the server's own error type) would make the plain name ambiguous there.
public typealias TestHTTPRefusal = HTTPRefusal
