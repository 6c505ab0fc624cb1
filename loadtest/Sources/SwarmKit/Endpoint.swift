/// A `ws://`, `http://` or `redis://` address with optional `{account}`, `{user}` and `{token}`
/// placeholders in its path, split into the parts a NIO client needs.
///
/// `swarm` only ever talks to addresses given on its command line; ``isLoopback`` backs the rule
/// that anything but loopback needs `--allow-remote`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable { case ws, http, redis }

    public var scheme: Scheme
    public var host: String
    public var port: Int
    /// Path and query, placeholders unexpanded; "/" at least.
    public var pathTemplate: String

    /// The error for an address that is not understood.
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses `scheme://host[:port][/path]`; the default ports are 80 and 6379.
    public init(parsing text: String) throws {
        guard let separator = text.range(of: "://"),
            let scheme = Scheme(rawValue: String(text[..<separator.lowerBound]).lowercased())
        else { throw ParseError(description: "\(text): expected ws://, http:// or redis://host:port") }
        var rest = Substring(text[separator.upperBound...])
        var path = "/"
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }  // no credentials
        var host = String(rest)
        var port = scheme == .redis ? 6379 : 80
        if host.hasPrefix("[") {  // [::1]:8080
            guard let close = host.firstIndex(of: "]") else { throw ParseError(description: "\(text): bad IPv6 host") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()) else { throw ParseError(description: "\(text): bad port") }
                port = value
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]) else { throw ParseError(description: "\(text): bad port") }
            port = value
            host = String(host[..<colon])
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw ParseError(description: "\(text): bad host or port") }
        self.scheme = scheme
        self.host = host
        self.port = port
        self.pathTemplate = path
    }

    /// Whether the host is a loopback address (127.0.0.0/8, ::1 or localhost).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// `Host` header value.
    public var hostHeader: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The path with placeholders replaced.
    public func path(account: String = "", user: String = "", token: String = "") -> String {
        guard pathTemplate.contains("{") else { return pathTemplate }
        return pathTemplate
            .replacingOccurrences(of: "{account}", with: account)
            .replacingOccurrences(of: "{user}", with: user)
            .replacingOccurrences(of: "{token}", with: token)
    }

    public var description: String { "\(scheme.rawValue)://\(hostHeader)\(pathTemplate)" }
}
