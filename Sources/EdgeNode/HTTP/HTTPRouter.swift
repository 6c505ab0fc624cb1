import Foundation
import NIOHTTP1

/// The node's route table: method and path pattern to endpoint, one endpoint per route.
/// Patterns are literal segments and `{parameter}` segments (one path segment each); a
/// parameter is percent-decoded after the path is split, so `org%3A42` is `org:42` and an
/// encoded `/` stays inside its segment.
struct HTTPRouter: Sendable {
    /// The outcome of looking a request up.
    enum Resolution {
        case endpoint(any HTTPEndpoint, parameters: [String])
        /// The path exists, with other methods.
        case methodNotAllowed
        case notFound
    }

    private struct Route: Sendable {
        var method: HTTPMethod
        var segments: [Segment]
        var endpoint: any HTTPEndpoint
    }

    /// One segment of a route pattern: literal bytes, or a `{parameter}`.
    private enum Segment: Sendable {
        case literal([UInt8])
        case parameter
    }

    private var routes: [Route] = []

    /// Adds a route; `pattern` like `/api/v1/accounts/{account}/presence`.
    mutating func add(_ method: HTTPMethod, _ pattern: String, _ endpoint: any HTTPEndpoint) {
        let segments = pattern.split(separator: "/").map { segment in
            segment.first == "{" && segment.last == "}" ? Segment.parameter : .literal(Array(segment.utf8))
        }
        routes.append(Route(method: method, segments: segments, endpoint: endpoint))
    }

    /// The endpoint for `method` on `path` (the request target without its query).
    /// Compares bytes, not `Character`s: every request is looked up here.
    func resolve(_ method: HTTPMethod, path: String) -> Resolution {
        let segments = path.utf8.split(separator: UInt8(ascii: "/"))
        var pathExists = false
        for route in routes {
            guard let parameters = Self.match(route.segments, segments) else { continue }
            if route.method == method { return .endpoint(route.endpoint, parameters: parameters) }
            pathExists = true
        }
        return pathExists ? .methodNotAllowed : .notFound
    }

    private static func match(_ pattern: [Segment], _ segments: [Substring.UTF8View]) -> [String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String] = []
        for (expected, actual) in zip(pattern, segments) {
            switch expected {
            case .parameter:
                guard let decoded = String(Substring(actual)).removingPercentEncoding else { return nil }
                parameters.append(decoded)
            case .literal(let bytes):
                guard actual.elementsEqual(bytes) else { return nil }
            }
        }
        return parameters
    }
}
