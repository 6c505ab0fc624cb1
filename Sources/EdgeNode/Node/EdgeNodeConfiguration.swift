import NIOCore
import Presence

/// Everything an edge node needs to run; the executable fills it from flags and `HERALD_*` variables.
public struct EdgeNodeConfiguration: Sendable {
    /// Address to listen on. Port 0 picks a free port (tests).
    public var host: String
    public var port: Int
    /// Identifies this node in logs, the `connected` frame and Redis.
    public var nodeID: String
    /// How tokens are verified and which claim names the account.
    public var authentication: AuthenticationConfiguration
    /// Keys accepted by the HTTP API (`Authorization: Bearer <key>`). Empty disables the API.
    public var apiKeys: [String]
    /// Allowed `Origin` values for WebSocket upgrades; nil allows any. Requests without an
    /// `Origin` header (non-browser clients) are allowed.
    public var allowedOrigins: Set<String>?
    /// Seconds between client pings the server asks for; a connection silent for two is closed.
    public var heartbeatSeconds: Int
    /// Bytes the server may hold for one slow client before closing it with 4001.
    public var outboundBufferBytes: Int
    /// Largest client message (after reassembling fragments) and largest frame accepted.
    public var maxClientMessageBytes: Int
    /// Largest HTTP API request body.
    public var maxRequestBodyBytes: Int
    /// Sustained client messages per second per connection, and the burst above it.
    public var clientMessagesPerSecond: Int
    public var clientMessageBurst: Int
    /// Sub-channels one connection may join.
    public var maxSubscriptionsPerConnection: Int
    /// Time a client has to complete the HTTP upgrade request.
    public var handshakeTimeout: TimeAmount
    /// How long a SIGTERM drain may take; clients are closed with 1012 in batches spread over it.
    public var drainTimeout: TimeAmount
    /// Event loops (threads) serving connections.
    public var eventLoopCount: Int
    /// Most events one client recovery may replay; a longer gap answers `recovered: false`.
    public var maxReplayEvents: Int
    /// Presence entry lifetime and refresh interval, and the typing TTL.
    public var presenceTiming: PresenceTiming
    /// Whether a typing user's own connections receive their `typing.start`/`typing.stop`.
    public var typingEcho: Bool
    /// Development mode: the shipped development and example secrets are accepted.
    public var developmentMode: Bool
    /// Engine.IO sessions (Socket.IO clients, polling or WebSocket) one node holds at once; a
    /// handshake beyond is refused with 503.
    public var maxSocketIOSessions: Int

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        nodeID: String,
        authentication: AuthenticationConfiguration,
        apiKeys: [String] = [],
        allowedOrigins: Set<String>? = nil,
        heartbeatSeconds: Int = 30,
        outboundBufferBytes: Int = 1 << 20,
        maxClientMessageBytes: Int = 64 * 1024,
        maxRequestBodyBytes: Int = 1 << 20,
        clientMessagesPerSecond: Int = 20,
        clientMessageBurst: Int = 40,
        maxSubscriptionsPerConnection: Int = 64,
        handshakeTimeout: TimeAmount = .seconds(10),
        drainTimeout: TimeAmount = .seconds(10),
        eventLoopCount: Int = System.coreCount,
        maxReplayEvents: Int = 1000,
        presenceTiming: PresenceTiming = PresenceTiming(),
        typingEcho: Bool = false,
        developmentMode: Bool = false,
        maxSocketIOSessions: Int = 100_000
    ) {
        self.host = host
        self.port = port
        self.nodeID = nodeID
        self.authentication = authentication
        self.apiKeys = apiKeys
        self.allowedOrigins = allowedOrigins
        self.heartbeatSeconds = heartbeatSeconds
        self.outboundBufferBytes = outboundBufferBytes
        self.maxClientMessageBytes = maxClientMessageBytes
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.clientMessagesPerSecond = clientMessagesPerSecond
        self.clientMessageBurst = clientMessageBurst
        self.maxSubscriptionsPerConnection = maxSubscriptionsPerConnection
        self.handshakeTimeout = handshakeTimeout
        self.drainTimeout = drainTimeout
        self.eventLoopCount = eventLoopCount
        self.maxReplayEvents = maxReplayEvents
        self.presenceTiming = presenceTiming
        self.typingEcho = typingEcho
        self.developmentMode = developmentMode
        self.maxSocketIOSessions = maxSocketIOSessions
    }
}

/// The keys tokens are verified with. At least one source must be set.
public struct AuthenticationConfiguration: Sendable {
    /// HS256 shared secret.
    public var hmacSecret: String?
    /// PEM text of an RS256 or ES256 (P-256) public key.
    public var publicKeyPEM: String?
    /// JSON text of a JWKS (RS256/ES256 keys, selected by `kid`).
    public var jwksJSON: String?
    /// Claim holding the account id.
    public var accountClaim: String

    public init(hmacSecret: String? = nil, publicKeyPEM: String? = nil, jwksJSON: String? = nil, accountClaim: String = "account") {
        self.hmacSecret = hmacSecret
        self.publicKeyPEM = publicKeyPEM
        self.jwksJSON = jwksJSON
        self.accountClaim = accountClaim
    }
}
