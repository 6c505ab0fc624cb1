/// A Redis URL that could not be used.
///
/// The description names the offending part of the URL but never the password.
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
        "Invalid Redis URL: \(self.detail). Expected redis://[user:password@]host[:port][/database]"
    }
}
