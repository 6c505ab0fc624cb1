/// A Redis URL, or a list of Redis Cluster nodes, that could not be used.
///
/// The description names the offending part but never the password.
public struct RedisConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong with the URL.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case invalidScheme
            case tlsNotSupported
            case missingHost
            case invalidHost
            case invalidPort
            case invalidDatabase
            case invalidPercentEncoding
            case unsupportedQuery
            case invalidClusterNodes
        }

        private let base: Base

        /// The URL does not start with `redis://`.
        public static let invalidScheme = Code(base: .invalidScheme)
        /// The URL uses `rediss://` (TLS), which this client does not implement.
        public static let tlsNotSupported = Code(base: .tlsNotSupported)
        /// There is no host between `//` and the port or path.
        public static let missingHost = Code(base: .missingHost)
        /// The host is malformed, e.g. an unclosed IPv6 bracket.
        public static let invalidHost = Code(base: .invalidHost)
        /// The port is not a number from 1 to 65535.
        public static let invalidPort = Code(base: .invalidPort)
        /// The path is not `/` followed by a non-negative database number.
        public static let invalidDatabase = Code(base: .invalidDatabase)
        /// The user or password has a `%` not followed by two hex digits.
        public static let invalidPercentEncoding = Code(base: .invalidPercentEncoding)
        /// The URL has a `?query` or `#fragment`, which are not supported.
        public static let unsupportedQuery = Code(base: .unsupportedQuery)
        /// A list of Redis Cluster seed nodes is empty or has an entry that is not `host:port`.
        public static let invalidClusterNodes = Code(base: .invalidClusterNodes)

        public var description: String {
            "\(self.base)"
        }
    }

    /// What was wrong.
    public let code: Code
    private let detail: String

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String {
        if self.code == .invalidClusterNodes {
            return "Invalid Redis Cluster nodes: \(self.detail). Expected host:port,host:port,… "
                + "(credentials as redis://user:password@host:port,host:port)"
        }
        return "Invalid Redis URL: \(self.detail). Expected redis://[user:password@]host[:port][/database]"
    }
}
