import NIOCore

extension EdgeNodeConfiguration {
    /// Checks every limit and timing against the range the node can work with, and refuses the
    /// placeholder secrets of the example files unless `developmentMode` is set. The error names
    /// the option (by its `HERALD_*` variable) and the accepted range.
    public func validate() throws(ConfigurationError) {
        try Self.check("HERALD_HEARTBEAT_SECONDS", heartbeatSeconds, 1...3600)
        try Self.check("HERALD_OUTBOUND_BUFFER_BYTES", outboundBufferBytes, 4096...(1 << 30))
        try Self.check("HERALD_MAX_MESSAGE_BYTES", maxClientMessageBytes, 128...(16 << 20))
        try Self.check("HERALD_MAX_REQUEST_BYTES", maxRequestBodyBytes, 1024...(64 << 20))
        try Self.check("HERALD_CLIENT_RATE", clientMessagesPerSecond, 1...100_000)
        try Self.check("HERALD_CLIENT_BURST", clientMessageBurst, 0...100_000)
        try Self.check("HERALD_MAX_SUBSCRIPTIONS", maxSubscriptionsPerConnection, 1...1024)
        if let maxConnections {
            // Sessions may not eat the descriptors health checks and Redis need at the limit.
            try Self.check("HERALD_MAX_CONNECTIONS", maxConnections, 1...DescriptorBudget.current().sessions)
        }
        try Self.check("HERALD_MAX_CONNECTIONS_PER_USER", maxConnectionsPerUser, 1...1_000_000)
        try Self.check("HERALD_MAX_PENDING_HANDSHAKES", maxPendingHandshakes, 1...100_000)
        try Self.check("HERALD_HANDSHAKE_TIMEOUT_SECONDS", Int(handshakeTimeout.nanoseconds / 1_000_000_000), 1...300)
        try Self.check("HERALD_DRAIN_SECONDS", Int(drainTimeout.nanoseconds / 1_000_000_000), 1...3600)
        try Self.check("HERALD_EVENT_LOOPS", eventLoopCount, 1...64)
        try Self.check("HERALD_MAX_REPLAY", maxReplayEvents, 1...100_000)
        try Self.check("HERALD_RESUME_INTERVAL_MS", Int(resumeInterval.nanoseconds / 1_000_000), 0...60_000)
        try Self.check("HERALD_PRESENCE_TTL_SECONDS", Int(presenceTiming.entryTTL / 1000), 2...3600)
        // A refresh must come before the entries it refreshes expire.
        try Self.check("HERALD_PRESENCE_REFRESH_SECONDS", Int(presenceTiming.refreshInterval / 1000), 1...max(1, Int(presenceTiming.entryTTL / 1000) - 1))
        try Self.check("HERALD_TYPING_TTL_MS", Int(presenceTiming.typingTTL), 500...60_000)
        try Self.check("HERALD_JWT_LEEWAY_SECONDS", authentication.leewaySeconds, 0...600)
        let refresh = Int(authentication.jwksRefreshInterval.components.seconds)
        try Self.check("HERALD_JWKS_REFRESH_SECONDS", refresh, 10...86_400)
        try Self.check("HERALD_JWKS_MIN_REFRESH_SECONDS", Int(authentication.jwksMinimumRefreshInterval.components.seconds), 1...refresh)
        if let url = authentication.jwksURL { try JWKSSource.validate(url: url) }
        var keys: Set<String> = []
        for entry in apiKeys {
            let key = try APIKeyScope.parse(entry: entry).key
            guard keys.insert(key).inserted else { throw .invalidAPIKey("a key is listed twice") }
        }
        try Self.check("HERALD_UPSTREAM_MAX_BYTES", upstream.maxMessageBytes, 64...(16 << 20))
        try Self.check("HERALD_SOCKETIO_MAX_SESSIONS", maxSocketIOSessions, 1...10_000_000)
        guard !developmentMode else { return }
        if let secret = authentication.hmacSecret, Self.isPlaceholder(secret) { throw .placeholderSecret("HERALD_JWT_SECRET") }
        if keys.contains(where: Self.isPlaceholder) { throw .placeholderSecret("HERALD_API_KEYS") }
    }

    /// Throws `outOfRange` naming `option` unless `value` lies in `range`.
    public static func check(_ option: String, _ value: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) {
        guard range.contains(value) else { throw .outOfRange(option: option, value: value, range: range) }
    }

    /// The development and example values shipped with Herald (`scripts/run.sh`, the local
    /// cluster, the deploy examples): fine on a laptop, a hole anywhere else.
    static func isPlaceholder(_ secret: String) -> Bool {
        secret.contains("change-me") || secret.hasPrefix("replace-with") || secret == "dev-api-key"
    }
}
