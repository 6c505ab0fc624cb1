import EdgeNode
import HTTPUpstream
import HeraldBroker
import NIOCore
import PubSubBridge
import RedisBackend

extension Serve {
    /// Where client messages go, as chosen by `HERALD_UPSTREAM` and `HERALD_UPSTREAM_URL`.
    enum UpstreamMode: String {
        case stream, http, off
    }

    /// The backend the node runs on: Redis when a URL is given, a Redis Cluster when seed nodes are,
    /// else the embedded single-node broker; with the upstream (a Redis stream, or HTTP) and the
    /// lifecycle stream when asked for. Checks the backend's options the way the node checks its own.
    func makeBackend() throws -> NodeBackend.Factory {
        try EdgeNodeConfiguration.check("HERALD_HISTORY_MAX_EVENTS", historyMaxEvents, 1...1_000_000)
        try EdgeNodeConfiguration.check("HERALD_HISTORY_MAX_AGE_SECONDS", historyMaxAgeSeconds, 1...7 * 86_400)
        try EdgeNodeConfiguration.check("HERALD_SUBSCRIPTION_LINGER_MS", subscriptionLingerMs, 0...600_000)
        try EdgeNodeConfiguration.check("HERALD_REDIS_COMMAND_TIMEOUT_MS", redisCommandTimeoutMs, 50...60_000)
        try EdgeNodeConfiguration.check("HERALD_REDIS_MAX_PENDING_COMMANDS", redisMaxPendingCommands, 1...1_000_000)
        try EdgeNodeConfiguration.check("HERALD_UPSTREAM_STREAMS", upstreamStreams, 1...1024)
        try EdgeNodeConfiguration.check("HERALD_UPSTREAM_MAX_LEN", upstreamMaxLen, 1...100_000_000)
        try EdgeNodeConfiguration.check("HERALD_UPSTREAM_MAX_AGE_SECONDS", upstreamMaxAgeSeconds, 1...30 * 86_400)
        try EdgeNodeConfiguration.check("HERALD_UPSTREAM_TIMEOUT_MS", upstreamTimeoutMs, 100...120_000)
        try EdgeNodeConfiguration.check("HERALD_UPSTREAM_CONCURRENCY", upstreamConcurrency, 1...4096)
        let window = HistoryWindow(maxEvents: historyMaxEvents, maxAge: .seconds(Int64(historyMaxAgeSeconds)))
        let mode = try upstreamMode()
        let http = try httpUpstream(mode)
        let caps = StreamCaps(maxLength: upstreamMaxLen, maxAge: .seconds(Int64(upstreamMaxAgeSeconds)))
        let clusterNodes = redisClusterNodesSetting
        if redisURLSetting != nil, clusterNodes != nil {
            throw ConfigurationError.invalidOption(
                "HERALD_REDIS_CLUSTER_NODES", "and HERALD_REDIS_URL are both set: set HERALD_REDIS_URL for one Redis, or HERALD_REDIS_CLUSTER_NODES for a Redis Cluster")
        }
        guard redisURLSetting != nil || clusterNodes != nil else {
            guard lifecycleStream.isEmpty else {
                throw ConfigurationError.invalidOption("HERALD_LIFECYCLE_STREAM", "needs HERALD_REDIS_URL: the embedded broker has no stream a backend could read")
            }
            let embedded = NodeBackend.embedded(window: window)
            return { context in
                var backend = try embedded(context)
                backend.upstream = try http.map { try HTTPUpstreamSink(configuration: $0, eventLoop: context.eventLoop, logger: context.logger) }
                return backend
            }
        }
        var redis: RedisConfiguration
        var cluster: RedisClusterConfiguration?
        if let clusterNodes {
            do {
                cluster = try RedisClusterConfiguration(nodes: clusterNodes)
            } catch {
                throw ConfigurationError.invalidOption("HERALD_REDIS_CLUSTER_NODES", "is not usable: \(error)")
            }
            guard lifecycleStream.isEmpty else {
                throw ConfigurationError.invalidOption(
                    "HERALD_LIFECYCLE_STREAM",
                    "is not supported on a Redis Cluster yet: its presence entries would cross hash slots (unset it, or use one Redis)")
            }
            redis = cluster!.node
        } else {
            do {
                redis = try RedisConfiguration(url: redisURLSetting ?? "")
            } catch {
                throw ConfigurationError.invalidRedisURL(String(describing: error))
            }
        }
        redis.commandTimeout = .milliseconds(Int64(redisCommandTimeoutMs))
        redis.keepaliveInterval = RedisConfiguration.keepaliveInterval(forCommandTimeout: redis.commandTimeout)
        redis.maxPendingCommands = redisMaxPendingCommands
        cluster?.node = redis
        let replication = try replicationWait(cluster: cluster != nil)
        let linger = TimeAmount.milliseconds(Int64(subscriptionLingerMs))
        let streamKey = UpstreamStreamKey(base: upstreamStream, shards: upstreamStreams)
        let lifecycleKey = lifecycleStream.nonEmpty
        let publishPerLoop = redisPublishPerLoop
        return { [redis, cluster] context in
            let broker =
                if let cluster {
                    RedisEventBroker(
                        cluster: cluster, eventLoop: context.eventLoop, linger: linger, window: window, replication: replication,
                        logger: context.logger)
                } else {
                    RedisEventBroker(
                        configuration: redis, eventLoop: context.eventLoop, linger: linger, window: window, replication: replication,
                        publishLoops: publishPerLoop ? context.eventLoops : [], logger: context.logger)
                }
            let presence = RedisPresenceStore(
                client: broker.commands, timing: context.presenceTiming, logger: context.logger, lifecycleStream: lifecycleKey,
                deployment: broker.deployment)
            var backend = NodeBackend(broker: broker, presenceStore: presence, name: cluster == nil ? "redis" : "redis-cluster")
            // Upstream and lifecycle entries get connections of their own: a burst of client
            // messages never queues in front of history reads, presence calls or publishes.
            var streams: (any RedisCommandRouter)?
            if mode == .stream || lifecycleKey != nil {
                let client: any RedisCommandRouter =
                    if let cluster {
                        RedisClusterCommandClient(configuration: cluster, eventLoop: context.eventLoop, logger: context.logger)
                    } else {
                        RedisCommandClient(configuration: redis, eventLoop: context.eventLoop, logger: context.logger)
                    }
                client.start()
                streams = client
            }
            if let http {
                backend.upstream = try HTTPUpstreamSink(configuration: http, eventLoop: context.eventLoop, logger: context.logger)
            } else if mode == .stream, let streams {
                backend.upstream = RedisUpstreamStream(client: streams, key: streamKey, caps: caps, logger: context.logger)
            }
            if let lifecycleKey, let streams {
                backend.lifecycle = RedisLifecycleStream(client: streams, key: lifecycleKey, caps: caps, node: context.nodeID, logger: context.logger)
            }
            return backend
        }
    }

    private var redisURLSetting: String? { redisURL.nonEmpty ?? environment("REDIS_URL") }

    /// `HERALD_REDIS_CLUSTER_NODES` (read here rather than as the option's default: it may carry a password).
    private var redisClusterNodesSetting: String? { redisClusterNodes.nonEmpty ?? environment("REDIS_CLUSTER_NODES") }

    /// `HERALD_REDIS_WAIT_REPLICAS` (default 1 on a cluster, 0 on one Redis) and `HERALD_REDIS_WAIT_TIMEOUT_MS`:
    /// nil when publishes need not wait for replicas.
    private func replicationWait(cluster: Bool) throws(ConfigurationError) -> RedisReplicationWait? {
        let replicas = redisWaitReplicas ?? (cluster ? 1 : 0)
        try EdgeNodeConfiguration.check("HERALD_REDIS_WAIT_REPLICAS", replicas, 0...16)
        // WAIT holds the connection: it must answer before the command deadline closes it.
        try EdgeNodeConfiguration.check("HERALD_REDIS_WAIT_TIMEOUT_MS", redisWaitTimeoutMs, 1...max(1, redisCommandTimeoutMs / 2))
        guard replicas > 0 else { return nil }
        return RedisReplicationWait(replicas: replicas, timeout: .milliseconds(Int64(redisWaitTimeoutMs)))
    }

    /// `HERALD_UPSTREAM`, defaulting to http when a URL is set and to stream otherwise.
    func upstreamMode() throws(ConfigurationError) -> UpstreamMode {
        guard let text = upstream.nonEmpty else { return upstreamURL.isEmpty ? .stream : .http }
        guard let mode = UpstreamMode(rawValue: text) else {
            throw .invalidOption("HERALD_UPSTREAM", "is '\(text)'; it must be stream, http or off")
        }
        return mode
    }

    /// The HTTP upstream's settings in http mode (URL and a secret required), else nil.
    private func httpUpstream(_ mode: UpstreamMode) throws(ConfigurationError) -> HTTPUpstreamSink.Configuration? {
        guard mode == .http else { return nil }
        guard upstreamURL.hasPrefix("http://") || upstreamURL.hasPrefix("https://") else {
            throw .invalidOption("HERALD_UPSTREAM_URL", "must be an http:// or https:// URL in http mode, is '\(upstreamURL)'")
        }
        let secret = upstreamSecret.nonEmpty ?? environment("UPSTREAM_SECRET") ?? ""
        guard secret.utf8.count >= 16 else {
            throw .invalidOption("HERALD_UPSTREAM_SECRET", "must be at least 16 bytes (the HMAC key the endpoint checks requests with); generate one with: openssl rand -hex 32")
        }
        return HTTPUpstreamSink.Configuration(
            url: upstreamURL, secret: secret, timeout: .milliseconds(Int64(upstreamTimeoutMs)),
            maxConcurrentRequests: upstreamConcurrency, maxQueuedRequests: upstreamConcurrency * 16)
    }

    /// What an operator should know about the upstream at start-up, when it is not what they may expect.
    var upstreamNotice: String? {
        guard (try? upstreamMode()) == .stream, redisURLSetting == nil else { return nil }
        return "upstream: off. The embedded broker keeps no stream a backend could read, so client messages of types "
            + "Herald does not handle get error unknown_type. Set HERALD_REDIS_URL (a Redis stream) or HERALD_UPSTREAM_URL (HTTP)."
    }
}
