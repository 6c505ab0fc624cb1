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
        var segments: [Substring]
        var endpoint: any HTTPEndpoint
    }

    private var routes: [Route] = []

    /// Adds a route; `pattern` like `/api/v1/accounts/{account}/presence`.
    mutating func add(_ method: HTTPMethod, _ pattern: String, _ endpoint: any HTTPEndpoint) {
        routes.append(Route(method: method, segments: pattern.split(separator: "/"), endpoint: endpoint))
    }

    /// The endpoint for `method` on `path` (the request target without its query).
    func resolve(_ method: HTTPMethod, path: String) -> Resolution {
        let segments = path.split(separator: "/")
        var pathExists = false
        for route in routes {
            guard let parameters = Self.match(route.segments, segments) else { continue }
            if route.method == method { return .endpoint(route.endpoint, parameters: parameters) }
            pathExists = true
        }
        return pathExists ? .methodNotAllowed : .notFound
    }

    private static func match(_ pattern: [Substring], _ segments: [Substring]) -> [String]? {
        guard pattern.count == segments.count else { return nil }
        var parameters: [String] = []
        for (expected, actual) in zip(pattern, segments) {
            if expected.first == "{" && expected.last == "}" {
                guard let decoded = actual.removingPercentEncoding else { return nil }
                parameters.append(decoded)
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }
}
