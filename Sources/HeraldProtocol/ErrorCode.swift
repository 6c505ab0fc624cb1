/// Machine-readable `code` values of `error` frames and HTTP error bodies.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let malformedMessage = ErrorCode(rawValue: "malformed_message")
    public static let unknownType = ErrorCode(rawValue: "unknown_type")
    public static let invalidChannel = ErrorCode(rawValue: "invalid_channel")
    public static let channelForbidden = ErrorCode(rawValue: "channel_forbidden")
    public static let tooManySubscriptions = ErrorCode(rawValue: "too_many_subscriptions")
    public static let invalidConversation = ErrorCode(rawValue: "invalid_conversation")
    public static let rateLimited = ErrorCode(rawValue: "rate_limited")
    public static let unauthorized = ErrorCode(rawValue: "unauthorized")
    public static let tokenExpired = ErrorCode(rawValue: "token_expired")
    public static let originForbidden = ErrorCode(rawValue: "origin_forbidden")
    public static let accountMismatch = ErrorCode(rawValue: "account_mismatch")
    /// An API key used for an account outside its scope.
    public static let accountForbidden = ErrorCode(rawValue: "account_forbidden")
    /// A `refresh` token that names another account or user than the connection's.
    public static let tokenMismatch = ErrorCode(rawValue: "token_mismatch")
    public static let notFound = ErrorCode(rawValue: "not_found")
    public static let methodNotAllowed = ErrorCode(rawValue: "method_not_allowed")
    public static let badRequest = ErrorCode(rawValue: "bad_request")
    public static let payloadTooLarge = ErrorCode(rawValue: "payload_too_large")
    public static let upgradeRequired = ErrorCode(rawValue: "upgrade_required")
    public static let unavailable = ErrorCode(rawValue: "unavailable")
    public static let draining = ErrorCode(rawValue: "draining")
    public static let nodeFull = ErrorCode(rawValue: "node_full")
    public static let tooManyConnections = ErrorCode(rawValue: "too_many_connections")
    public static let requestTimeout = ErrorCode(rawValue: "request_timeout")
    /// The HTTP upstream did not accept a client message: no 2xx in time, or an unusable answer.
    public static let upstreamFailed = ErrorCode(rawValue: "upstream_failed")
    /// A message posted for an SSE connection this node does not hold (or that is not the caller's).
    public static let unknownConnection = ErrorCode(rawValue: "unknown_connection")

    public var description: String { rawValue }
}
