/// WebSocket close codes Herald sends, so clients can tell a policy close from a restart.
///
/// Codes below 4000 are RFC 6455's; 4000–4099 are Herald's own (the private range).
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The client or server ended the session on purpose.
    public static let normal = CloseCode(rawValue: 1000)
    /// The client broke the WebSocket framing rules.
    public static let protocolError = CloseCode(rawValue: 1002)
    /// A binary frame arrived; the protocol is JSON text frames only.
    public static let unsupportedData = CloseCode(rawValue: 1003)
    /// A text frame was not valid UTF-8.
    public static let invalidPayload = CloseCode(rawValue: 1007)
    /// The client kept flooding after it was told to slow down.
    public static let policyViolation = CloseCode(rawValue: 1008)
    /// A frame or message was larger than the configured maximum.
    public static let messageTooBig = CloseCode(rawValue: 1009)
    /// The server hit an unexpected condition.
    public static let internalError = CloseCode(rawValue: 1011)
    /// The node is draining (deploy or scale-in): reconnect, the load balancer sends you elsewhere.
    public static let serviceRestart = CloseCode(rawValue: 1012)
    /// Nothing arrived from the client for two heartbeat intervals.
    public static let idleTimeout = CloseCode(rawValue: 4000)
    /// The client read too slowly and its outbound buffer filled; reconnect and recover.
    public static let slowConsumer = CloseCode(rawValue: 4001)
    /// The token expired (plus the leeway) and no `refresh` extended it; also an upgrade refused
    /// for an expired token. Fetch a new token, then reconnect.
    public static let tokenExpired = CloseCode(rawValue: 4003)
    /// An upgrade refused as malformed (400): a bad `?channels=` list.
    public static let badRequest = CloseCode(rawValue: 4400)
    /// An upgrade refused for missing or invalid credentials (401).
    public static let unauthorized = CloseCode(rawValue: 4401)
    /// An upgrade refused for valid credentials used where they do not belong (403).
    public static let forbidden = CloseCode(rawValue: 4403)
    /// An upgrade refused because the node cannot take clients now (503): retry with backoff.
    public static let unavailable = CloseCode(rawValue: 4503)

    public var description: String { String(rawValue) }
}
