import ArgumentParser
import EdgeNode
import Foundation
import Logging
import Presence
import PubSubBridge
import ServiceLifecycle

/// Reads `HERALD_<name>` from the environment.
func environment(_ name: String) -> String? {
    ProcessInfo.processInfo.environment["HERALD_\(name)"].flatMap { $0.isEmpty ? nil : $0 }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run an edge node (the default command).")

    @Option(help: "host:port to listen on. [HERALD_LISTEN]")
    var listen: String = environment("LISTEN") ?? "0.0.0.0:8080"

    @Option(help: "redis://[user:pass@]host:port/db; unset runs the embedded single-node broker. [HERALD_REDIS_URL]")
    var redisURL: String = ""

    @Option(help: "Redis Cluster seed nodes host:port,host:port (credentials: redis://user:pass@host:port,host:port); sharded pub/sub. [HERALD_REDIS_CLUSTER_NODES]")
    var redisClusterNodes: String = ""

    @Option(help: "Replicas a publish with history must reach (WAIT) before it is acknowledged; default 1 on a cluster (at most the shard's), 0 on one Redis. [HERALD_REDIS_WAIT_REPLICAS]")
    var redisWaitReplicas: Int? = environment("REDIS_WAIT_REPLICAS").flatMap(Int.init)

    @Option(help: "Milliseconds a publish waits for its replicas at most (at most half the command timeout). [HERALD_REDIS_WAIT_TIMEOUT_MS]")
    var redisWaitTimeoutMs: Int = environment("REDIS_WAIT_TIMEOUT_MS").flatMap(Int.init) ?? 500

    @Option(help: "Node id in logs, frames and Redis; default hostname-pid. [HERALD_NODE_ID]")
    var nodeID: String = environment("NODE_ID") ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"

    @Option(help: "HS256 secret for client tokens. [HERALD_JWT_SECRET]")
    var jwtSecret: String = ""

    @Option(help: "PEM file with the RS256 or ES256 public key for client tokens. [HERALD_JWT_PUBLIC_KEY]")
    var jwtPublicKey: String = environment("JWT_PUBLIC_KEY") ?? ""

    @Option(help: "JWKS file (RS256/ES256 keys chosen by kid). [HERALD_JWKS_FILE]")
    var jwksFile: String = environment("JWKS_FILE") ?? ""

    @Option(help: "JWKS URL (https://, or http:// on loopback), fetched at start-up and kept fresh. [HERALD_JWKS_URL]")
    var jwksURL: String = environment("JWKS_URL") ?? ""

    @Option(help: "Seconds between JWKS fetches without Cache-Control max-age; the longest max-age honoured. [HERALD_JWKS_REFRESH_SECONDS]")
    var jwksRefreshSeconds: Int = environment("JWKS_REFRESH_SECONDS").flatMap(Int.init) ?? 600

    @Option(help: "Fewest seconds between two JWKS fetches, also those an unknown kid causes. [HERALD_JWKS_MIN_REFRESH_SECONDS]")
    var jwksMinRefreshSeconds: Int = environment("JWKS_MIN_REFRESH_SECONDS").flatMap(Int.init) ?? 30

    @Option(help: "Comma-separated accepted 'aud' values; a token must name one. Unset: not checked. [HERALD_JWT_AUDIENCE]")
    var jwtAudience: String = environment("JWT_AUDIENCE") ?? ""

    @Option(help: "Required 'iss' of client tokens. Unset: not checked. [HERALD_JWT_ISSUER]")
    var jwtIssuer: String = environment("JWT_ISSUER") ?? ""

    @Option(help: "Seconds of clock skew tolerated on exp and nbf. [HERALD_JWT_LEEWAY_SECONDS]")
    var jwtLeewaySeconds: Int = environment("JWT_LEEWAY_SECONDS").flatMap(Int.init) ?? 30

    @Option(help: "Token claim holding the account id. [HERALD_JWT_ACCOUNT_CLAIM]")
    var jwtAccountClaim: String = environment("JWT_ACCOUNT_CLAIM") ?? "account"

    @Option(help: "Comma-separated keys for the HTTP API, each optionally scoped: key{acct}{org:*}; empty disables it. [HERALD_API_KEYS]")
    var apiKeys: String = ""

    @Option(help: "Comma-separated Origins allowed to open WebSockets; unset allows any. [HERALD_ALLOWED_ORIGINS]")
    var allowedOrigins: String = environment("ALLOWED_ORIGINS") ?? ""

    @Option(help: "Refused upgrades: browser (close 44xx when Origin is sent, else HTTP), close (always) or http (never). [HERALD_UPGRADE_REFUSALS]")
    var upgradeRefusals: String = environment("UPGRADE_REFUSALS") ?? "browser"

    @Option(help: "Seconds between client pings; two silent heartbeats close a connection. [HERALD_HEARTBEAT_SECONDS]")
    var heartbeatSeconds: Int = environment("HEARTBEAT_SECONDS").flatMap(Int.init) ?? 30

    @Option(help: "Bytes queued for one client before it is closed as a slow consumer (4001). [HERALD_OUTBOUND_BUFFER_BYTES]")
    var outboundBufferBytes: Int = environment("OUTBOUND_BUFFER_BYTES").flatMap(Int.init) ?? 1 << 20

    @Option(help: "Largest client message or frame; larger ones close with 1009. [HERALD_MAX_MESSAGE_BYTES]")
    var maxMessageBytes: Int = environment("MAX_MESSAGE_BYTES").flatMap(Int.init) ?? 64 * 1024

    @Option(help: "Largest HTTP API request body (413 above). [HERALD_MAX_REQUEST_BYTES]")
    var maxRequestBytes: Int = environment("MAX_REQUEST_BYTES").flatMap(Int.init) ?? 1 << 20

    @Option(help: "Sustained client messages per second per connection. [HERALD_CLIENT_RATE]")
    var clientRate: Int = environment("CLIENT_RATE").flatMap(Int.init) ?? 20

    @Option(help: "Client message burst above the rate; a longer flood closes with 1008. [HERALD_CLIENT_BURST]")
    var clientBurst: Int = environment("CLIENT_BURST").flatMap(Int.init) ?? 40

    @Option(help: "Sub-channels one connection may join. [HERALD_MAX_SUBSCRIPTIONS]")
    var maxSubscriptions: Int = environment("MAX_SUBSCRIPTIONS").flatMap(Int.init) ?? 64

    @Option(help: "Sessions this node holds at most (503 node_full above); 0: what the descriptor limit allows after a reserve. [HERALD_MAX_CONNECTIONS]")
    var maxConnections: Int = environment("MAX_CONNECTIONS").flatMap(Int.init) ?? 0

    @Option(help: "Sessions one user may hold on this node (429 above). [HERALD_MAX_CONNECTIONS_PER_USER]")
    var maxConnectionsPerUser: Int = environment("MAX_CONNECTIONS_PER_USER").flatMap(Int.init) ?? 100

    @Option(help: "Handshakes checked at once; more get 503. [HERALD_MAX_PENDING_HANDSHAKES]")
    var maxPendingHandshakes: Int = environment("MAX_PENDING_HANDSHAKES").flatMap(Int.init) ?? 1000

    @Option(help: "Seconds a client has to send a complete HTTP request (408 / close after). [HERALD_HANDSHAKE_TIMEOUT_SECONDS]")
    var handshakeTimeoutSeconds: Int = environment("HANDSHAKE_TIMEOUT_SECONDS").flatMap(Int.init) ?? 10

    @Option(help: "Milliseconds a Redis subscription outlives the account's last local client. [HERALD_SUBSCRIPTION_LINGER_MS]")
    var subscriptionLingerMs: Int = environment("SUBSCRIPTION_LINGER_MS").flatMap(Int.init) ?? 2000

    @Option(help: "Milliseconds Redis may take to answer a command; then 503, and the connection is reopened (idle ones PING). [HERALD_REDIS_COMMAND_TIMEOUT_MS]")
    var redisCommandTimeoutMs: Int = environment("REDIS_COMMAND_TIMEOUT_MS").flatMap(Int.init) ?? 2000

    @Option(help: "Commands one Redis connection may have waiting for replies; more fail at once. [HERALD_REDIS_MAX_PENDING_COMMANDS]")
    var redisMaxPendingCommands: Int = environment("REDIS_MAX_PENDING_COMMANDS").flatMap(Int.init) ?? 10_000

    @Flag(inversion: .prefixedNo, help: "One Redis: publish on a Redis connection per event loop (no thread hop per HTTP publish). [HERALD_REDIS_PUBLISH_PER_LOOP=true]")
    var redisPublishPerLoop: Bool = environment("REDIS_PUBLISH_PER_LOOP") == "true"

    @Option(help: "Seconds a SIGTERM drain may take; clients get 1012 spread over half of it. [HERALD_DRAIN_SECONDS]")
    var drainSeconds: Int = environment("DRAIN_SECONDS").flatMap(Int.init) ?? 10

    @Option(help: "Events kept per account in history. [HERALD_HISTORY_MAX_EVENTS]")
    var historyMaxEvents: Int = environment("HISTORY_MAX_EVENTS").flatMap(Int.init) ?? 1000

    @Option(help: "Seconds an event stays in history. [HERALD_HISTORY_MAX_AGE_SECONDS]")
    var historyMaxAgeSeconds: Int = environment("HISTORY_MAX_AGE_SECONDS").flatMap(Int.init) ?? 600

    @Option(help: "Most events one client recovery replays; a longer gap answers recovered:false. [HERALD_MAX_REPLAY]")
    var maxReplay: Int = environment("MAX_REPLAY").flatMap(Int.init) ?? 1000

    @Option(help: "Least milliseconds between two resumes of one connection. [HERALD_RESUME_INTERVAL_MS]")
    var resumeIntervalMs: Int = environment("RESUME_INTERVAL_MS").flatMap(Int.init) ?? 1000

    @Option(help: "Seconds a presence entry lives without a refresh (a dead node's users leave after it). [HERALD_PRESENCE_TTL_SECONDS]")
    var presenceTTLSeconds: Int = environment("PRESENCE_TTL_SECONDS").flatMap(Int.init) ?? 30

    @Option(help: "Seconds between a node's presence refreshes (one Redis call per account). [HERALD_PRESENCE_REFRESH_SECONDS]")
    var presenceRefreshSeconds: Int = environment("PRESENCE_REFRESH_SECONDS").flatMap(Int.init) ?? 10

    @Option(help: "Milliseconds a typing state lives without a new typing.start. [HERALD_TYPING_TTL_MS]")
    var typingTTLMs: Int = environment("TYPING_TTL_MS").flatMap(Int.init) ?? 3000

    @Flag(inversion: .prefixedNo, help: "Send typing events to the typing user's own connections too. [HERALD_TYPING_ECHO=true]")
    var typingEcho: Bool = environment("TYPING_ECHO") == "true"

    @Flag(inversion: .prefixedNo, help: "Development mode: accept the development and example secrets. [HERALD_DEVELOPMENT=true]")
    var development: Bool = environment("DEVELOPMENT") == "true"

    @Option(help: "Where client messages that are not Herald's own go: stream (Redis stream), http (HERALD_UPSTREAM_URL) or off; default http when a URL is set, else stream. [HERALD_UPSTREAM]")
    var upstream: String = environment("UPSTREAM") ?? ""

    @Option(help: "Comma-separated client message types sent upstream; 'prefix*' admits a prefix; unset sends every non-reserved type. [HERALD_UPSTREAM_TYPES]")
    var upstreamTypes: String = environment("UPSTREAM_TYPES") ?? ""

    @Option(help: "Largest client message sent upstream; larger ones get payload_too_large. [HERALD_UPSTREAM_MAX_BYTES]")
    var upstreamMaxBytes: Int = environment("UPSTREAM_MAX_BYTES").flatMap(Int.init) ?? 16 * 1024

    @Option(help: "Redis stream client messages are appended to. [HERALD_UPSTREAM_STREAM]")
    var upstreamStream: String = environment("UPSTREAM_STREAM") ?? "herald:upstream"

    @Option(help: "Split the upstream stream into N streams <stream>:{0..N-1} by account (Redis Cluster). [HERALD_UPSTREAM_STREAMS]")
    var upstreamStreams: Int = environment("UPSTREAM_STREAMS").flatMap(Int.init) ?? 1

    @Option(help: "Entries kept in the upstream and lifecycle streams (XADD MAXLEN ~). [HERALD_UPSTREAM_MAX_LEN]")
    var upstreamMaxLen: Int = environment("UPSTREAM_MAX_LEN").flatMap(Int.init) ?? 100_000

    @Option(help: "Seconds an entry stays in the upstream and lifecycle streams (XTRIM MINID ~). [HERALD_UPSTREAM_MAX_AGE_SECONDS]")
    var upstreamMaxAgeSeconds: Int = environment("UPSTREAM_MAX_AGE_SECONDS").flatMap(Int.init) ?? 86_400

    @Option(help: "HTTP endpoint client messages are POSTed to (HTTP upstream). [HERALD_UPSTREAM_URL]")
    var upstreamURL: String = environment("UPSTREAM_URL") ?? ""

    @Option(help: "Shared secret of the HTTP upstream's HMAC-SHA256 signature (at least 16 bytes). [HERALD_UPSTREAM_SECRET]")
    var upstreamSecret: String = ""

    @Option(help: "Milliseconds one HTTP upstream request may take. [HERALD_UPSTREAM_TIMEOUT_MS]")
    var upstreamTimeoutMs: Int = environment("UPSTREAM_TIMEOUT_MS").flatMap(Int.init) ?? 5000

    @Option(help: "HTTP upstream requests in flight per node (as many again may wait, x16). [HERALD_UPSTREAM_CONCURRENCY]")
    var upstreamConcurrency: Int = environment("UPSTREAM_CONCURRENCY").flatMap(Int.init) ?? 64

    @Option(help: "Redis stream for connection open/close and presence join/leave entries; unset: off. Needs Redis. [HERALD_LIFECYCLE_STREAM]")
    var lifecycleStream: String = environment("LIFECYCLE_STREAM") ?? ""
    @Option(help: "Socket.IO (Engine.IO) sessions one node holds at once; more handshakes get 503. [HERALD_SOCKETIO_MAX_SESSIONS]")
    var socketioMaxSessions: Int = environment("SOCKETIO_MAX_SESSIONS").flatMap(Int.init) ?? 100_000
    @Flag(inversion: .prefixedNo, help: "Serve the live console at /console (a page built on herald.js). [HERALD_CONSOLE=true]")
    var console: Bool = environment("CONSOLE") == "true"

    @Option(help: "Folder holding the console's files (console/ and js/): the repository's clients/ folder. [HERALD_CONSOLE_ROOT]")
    var consoleRoot: String = environment("CONSOLE_ROOT") ?? ""

    @Option(help: "Event loop threads; default one per core. [HERALD_EVENT_LOOPS]")
    var eventLoops: Int = environment("EVENT_LOOPS").flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "trace, debug, info, notice, warning, error or critical. [HERALD_LOG_LEVEL]")
    var logLevel: String = environment("LOG_LEVEL") ?? "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "herald.edge-node")
        // Every connection is a descriptor: take what the operator allowed before sizing limits.
        DescriptorBudget.raiseToHardLimit()
        let configuration: EdgeNodeConfiguration
        let backend: NodeBackend.Factory
        do {
            var options = try makeConfiguration()
            options.console = try makeConsole()
            configuration = options
            try configuration.validate()
            backend = try makeBackend()
            _ = try await TokenVerifier(configuration.authentication)
        } catch {
            // A configuration the node cannot run with: say which option, exit 2 (usage error).
            FileHandle.standardError.write(Data("edge-node: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let notice = upstreamNotice { logger.notice("\(notice)") }
        let node = EdgeNodeServer(configuration: configuration, backend: backend, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: node, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// Secrets fall back to their variables here rather than as option defaults, so `--help`
    /// never prints them.
    func makeConfiguration() throws -> EdgeNodeConfiguration {
        for name in Self.integerVariables where environment(name).map({ Int($0) == nil }) == true {
            throw ConfigurationError.notAnInteger(option: "HERALD_\(name)")
        }
        let jwtSecret = self.jwtSecret.nonEmpty ?? environment("JWT_SECRET") ?? ""
        let apiKeys = self.apiKeys.nonEmpty ?? environment("API_KEYS") ?? ""
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError.invalidListenAddress(listen)
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let authentication = AuthenticationConfiguration(
            hmacSecret: jwtSecret.nonEmpty,
            publicKeyPEM: try jwtPublicKey.nonEmpty.map { try String(contentsOfFile: $0, encoding: .utf8) },
            jwksJSON: try jwksFile.nonEmpty.map { try String(contentsOfFile: $0, encoding: .utf8) },
            jwksURL: jwksURL.nonEmpty,
            jwksRefreshInterval: .seconds(jwksRefreshSeconds.clampedForTime),
            jwksMinimumRefreshInterval: .seconds(jwksMinRefreshSeconds.clampedForTime),
            accountClaim: jwtAccountClaim,
            audiences: jwtAudience.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
            issuer: jwtIssuer.nonEmpty, leewaySeconds: jwtLeewaySeconds)
        guard let refusals = UpgradeRefusalMode(rawValue: upgradeRefusals) else { throw ConfigurationError.invalidUpgradeRefusals(upgradeRefusals) }
        let origins = allowedOrigins.nonEmpty.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }) }
        return EdgeNodeConfiguration(
            host: host.isEmpty ? "0.0.0.0" : host, port: port, nodeID: nodeID,
            authentication: authentication,
            apiKeys: APIKeyScope.entries(in: apiKeys),
            allowedOrigins: origins, upgradeRefusals: refusals, heartbeatSeconds: heartbeatSeconds, outboundBufferBytes: outboundBufferBytes,
            maxClientMessageBytes: maxMessageBytes, maxRequestBodyBytes: maxRequestBytes,
            clientMessagesPerSecond: clientRate, clientMessageBurst: clientBurst,
            maxSubscriptionsPerConnection: maxSubscriptions,
            maxConnections: maxConnections == 0 ? nil : maxConnections, maxConnectionsPerUser: maxConnectionsPerUser,
            maxPendingHandshakes: maxPendingHandshakes,
            handshakeTimeout: .seconds(Int64(handshakeTimeoutSeconds.clampedForTime)),
            drainTimeout: .seconds(Int64(drainSeconds.clampedForTime)), eventLoopCount: eventLoops,
            maxReplayEvents: maxReplay, resumeInterval: .milliseconds(Int64(resumeIntervalMs.clampedForTime)),
            presenceTiming: PresenceTiming(
                entryTTL: Int64(presenceTTLSeconds.clampedForTime) * 1000, refreshInterval: Int64(presenceRefreshSeconds.clampedForTime) * 1000,
                typingTTL: Int64(typingTTLMs.clampedForTime)),
            typingEcho: typingEcho, developmentMode: development,
            upstream: UpstreamPolicy(types: UpstreamPolicy.types(from: upstreamTypes), maxMessageBytes: upstreamMaxBytes),
            maxSocketIOSessions: socketioMaxSessions)
    }

    /// Variables read as whole numbers: one that is set but not a number is an error, not the default.
    static let integerVariables = [
        "HEARTBEAT_SECONDS", "OUTBOUND_BUFFER_BYTES", "MAX_MESSAGE_BYTES", "MAX_REQUEST_BYTES", "CLIENT_RATE", "CLIENT_BURST",
        "MAX_SUBSCRIPTIONS", "HANDSHAKE_TIMEOUT_SECONDS", "SUBSCRIPTION_LINGER_MS", "DRAIN_SECONDS", "HISTORY_MAX_EVENTS",
        "HISTORY_MAX_AGE_SECONDS", "MAX_REPLAY", "PRESENCE_TTL_SECONDS", "PRESENCE_REFRESH_SECONDS", "TYPING_TTL_MS", "EVENT_LOOPS",
        "REDIS_COMMAND_TIMEOUT_MS", "REDIS_MAX_PENDING_COMMANDS", "RESUME_INTERVAL_MS",
        "MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_USER", "MAX_PENDING_HANDSHAKES",
        "JWKS_REFRESH_SECONDS", "JWKS_MIN_REFRESH_SECONDS", "JWT_LEEWAY_SECONDS",
        "UPSTREAM_MAX_BYTES", "UPSTREAM_STREAMS", "UPSTREAM_MAX_LEN",
        "UPSTREAM_MAX_AGE_SECONDS", "UPSTREAM_TIMEOUT_MS", "UPSTREAM_CONCURRENCY", "SOCKETIO_MAX_SESSIONS",
        "REDIS_WAIT_REPLICAS", "REDIS_WAIT_TIMEOUT_MS",
    ]
}

extension Int {
    /// The value limited to ±2^31, so turning an absurd option into a time cannot overflow before
    /// validation reports it as out of range.
    var clampedForTime: Int { Swift.min(Swift.max(self, Int(Int32.min)), Int(Int32.max)) }
}

extension String {
    /// nil for the empty string, which options use for "not set".
    var nonEmpty: String? { isEmpty ? nil : self }
}
