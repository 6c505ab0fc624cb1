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
    /// Keys accepted by the HTTP API (`Authorization: Bearer <key>`), each optionally scoped to
    /// accounts: `key{acct1}{org:*}` (see ``APIKeyScope``). Empty disables the API.
    public var apiKeys: [String]
    /// Allowed `Origin` values for WebSocket upgrades; nil allows any. Requests without an
    /// `Origin` header (non-browser clients) are allowed.
    public var allowedOrigins: Set<String>?
    /// How a refused WebSocket upgrade is answered: an HTTP error, or an accepted upgrade closed
    /// at once with a 44xx code browsers can read.
    public var upgradeRefusals: UpgradeRefusalMode
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
    /// Sessions this node holds at most; nil: what the process's descriptor limit allows after a
    /// reserve for health checks and Redis. Over it: 503 `node_full` with `Retry-After`.
    public var maxConnections: Int?
    /// Sessions one user (of one account) may hold on this node; over it: 429.
    public var maxConnectionsPerUser: Int
    /// Handshakes checked at once; more are refused with 503 rather than queued.
    public var maxPendingHandshakes: Int
    /// Time a client has to complete the HTTP upgrade request.
    public var handshakeTimeout: TimeAmount
    /// How long a SIGTERM drain may take; clients are closed with 1012 in batches spread over it.
    public var drainTimeout: TimeAmount
    /// Event loops (threads) serving connections.
    public var eventLoopCount: Int
    /// Most events one client recovery may replay; a longer gap answers `recovered: false`.
    public var maxReplayEvents: Int
    /// The least time between two `resume`s of one connection (each may read the whole window).
    public var resumeInterval: TimeAmount
    /// Presence entry lifetime and refresh interval, and the typing TTL.
    public var presenceTiming: PresenceTiming
    /// Whether a typing user's own connections receive their `typing.start`/`typing.stop`.
    public var typingEcho: Bool
    /// Development mode: the shipped development and example secrets are accepted.
    public var developmentMode: Bool
    /// Which client messages go upstream, when the backend has an upstream.
    public var upstream: UpstreamPolicy
    /// Engine.IO sessions (Socket.IO clients, polling or WebSocket) one node holds at once; a
    /// handshake beyond is refused with 503.
    public var maxSocketIOSessions: Int
    /// The live console's files, served at `/console`; nil (the default): no console.
    public var console: ConsoleAssets? = nil

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        nodeID: String,
        authentication: AuthenticationConfiguration,
        apiKeys: [String] = [],
        allowedOrigins: Set<String>? = nil,
        upgradeRefusals: UpgradeRefusalMode = .browser,
        heartbeatSeconds: Int = 30,
        outboundBufferBytes: Int = 1 << 20,
        maxClientMessageBytes: Int = 64 * 1024,
        maxRequestBodyBytes: Int = 1 << 20,
        clientMessagesPerSecond: Int = 20,
        clientMessageBurst: Int = 40,
        maxSubscriptionsPerConnection: Int = 64,
        maxConnections: Int? = nil,
        maxConnectionsPerUser: Int = 100,
        maxPendingHandshakes: Int = 1000,
        handshakeTimeout: TimeAmount = .seconds(10),
        drainTimeout: TimeAmount = .seconds(10),
        eventLoopCount: Int = System.coreCount,
        maxReplayEvents: Int = 1000,
        resumeInterval: TimeAmount = .seconds(1),
        presenceTiming: PresenceTiming = PresenceTiming(),
        typingEcho: Bool = false,
        developmentMode: Bool = false,
        upstream: UpstreamPolicy = UpstreamPolicy(),
        maxSocketIOSessions: Int = 100_000
    ) {
        self.host = host
        self.port = port
        self.nodeID = nodeID
        self.authentication = authentication
        self.apiKeys = apiKeys
        self.allowedOrigins = allowedOrigins
        self.upgradeRefusals = upgradeRefusals
        self.heartbeatSeconds = heartbeatSeconds
        self.outboundBufferBytes = outboundBufferBytes
        self.maxClientMessageBytes = maxClientMessageBytes
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.clientMessagesPerSecond = clientMessagesPerSecond
        self.clientMessageBurst = clientMessageBurst
        self.maxSubscriptionsPerConnection = maxSubscriptionsPerConnection
        self.maxConnections = maxConnections
        self.maxConnectionsPerUser = maxConnectionsPerUser
        self.maxPendingHandshakes = maxPendingHandshakes
        self.handshakeTimeout = handshakeTimeout
        self.drainTimeout = drainTimeout
        self.eventLoopCount = eventLoopCount
        self.maxReplayEvents = maxReplayEvents
        self.resumeInterval = resumeInterval
        self.presenceTiming = presenceTiming
        self.typingEcho = typingEcho
        self.developmentMode = developmentMode
        self.upstream = upstream
        self.maxSocketIOSessions = maxSocketIOSessions
    }
}

/// The keys tokens are verified with, and the claims they must carry. At least one key source
/// must be set.
public struct AuthenticationConfiguration: Sendable {
    /// HS256 shared secret.
    public var hmacSecret: String?
    /// PEM text of an RS256 or ES256 (P-256) public key.
    public var publicKeyPEM: String?
    /// JSON text of a JWKS (RS256/ES256 keys, selected by `kid`).
    public var jwksJSON: String?
    /// Where to fetch the JWKS from (`https://`, or `http://` on a loopback host only); fetched at
    /// start-up, refreshed, and on an unknown `kid`.
    public var jwksURL: String?
    /// How often the JWKS is fetched when its response carries no `Cache-Control: max-age`, and
    /// the longest a `max-age` may stretch it to.
    public var jwksRefreshInterval: Duration
    /// The shortest time between two fetches of the JWKS: the floor of `max-age`, and the most
    /// often an unknown `kid` may cause a fetch.
    public var jwksMinimumRefreshInterval: Duration
    /// Claim holding the account id.
    public var accountClaim: String
    /// Accepted `aud` values; a token must name at least one. Empty: `aud` is not checked.
    public var audiences: [String]
    /// The required `iss`; nil: `iss` is not checked.
    public var issuer: String?
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    public var leewaySeconds: Int

    public init(
        hmacSecret: String? = nil, publicKeyPEM: String? = nil, jwksJSON: String? = nil, jwksURL: String? = nil,
        jwksRefreshInterval: Duration = .seconds(600), jwksMinimumRefreshInterval: Duration = .seconds(30),
        accountClaim: String = "account", audiences: [String] = [], issuer: String? = nil, leewaySeconds: Int = 30
    ) {
        self.hmacSecret = hmacSecret
        self.publicKeyPEM = publicKeyPEM
        self.jwksJSON = jwksJSON
        self.jwksURL = jwksURL
        self.jwksRefreshInterval = jwksRefreshInterval
        self.jwksMinimumRefreshInterval = jwksMinimumRefreshInterval
        self.accountClaim = accountClaim
        self.audiences = audiences
        self.issuer = issuer
        self.leewaySeconds = leewaySeconds
    }
}
