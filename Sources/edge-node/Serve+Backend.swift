import EdgeNode
import HeraldBroker
import NIOCore
import PubSubBridge
import RedisBackend

extension Serve {
    /// The backend the node runs on: Redis when a URL is given, else the embedded single-node
    /// broker. Checks the backend's options the way the node checks its own.
    func makeBackend() throws -> NodeBackend.Factory {
        try EdgeNodeConfiguration.check("HERALD_HISTORY_MAX_EVENTS", historyMaxEvents, 1...1_000_000)
        try EdgeNodeConfiguration.check("HERALD_HISTORY_MAX_AGE_SECONDS", historyMaxAgeSeconds, 1...7 * 86_400)
        try EdgeNodeConfiguration.check("HERALD_SUBSCRIPTION_LINGER_MS", subscriptionLingerMs, 0...600_000)
        try EdgeNodeConfiguration.check("HERALD_REDIS_COMMAND_TIMEOUT_MS", redisCommandTimeoutMs, 50...60_000)
        try EdgeNodeConfiguration.check("HERALD_REDIS_MAX_PENDING_COMMANDS", redisMaxPendingCommands, 1...1_000_000)
        let window = HistoryWindow(maxEvents: historyMaxEvents, maxAge: .seconds(Int64(historyMaxAgeSeconds)))
        guard let url = (redisURL.nonEmpty ?? environment("REDIS_URL")) else { return NodeBackend.embedded(window: window) }
        var redis: RedisConfiguration
        do {
            redis = try RedisConfiguration(url: url)
        } catch {
            throw ConfigurationError.invalidRedisURL(String(describing: error))
        }
        redis.commandTimeout = .milliseconds(Int64(redisCommandTimeoutMs))
        redis.keepaliveInterval = RedisConfiguration.keepaliveInterval(forCommandTimeout: redis.commandTimeout)
        redis.maxPendingCommands = redisMaxPendingCommands
        let linger = TimeAmount.milliseconds(Int64(subscriptionLingerMs))
        return { [redis] context in
            let broker = RedisEventBroker(configuration: redis, eventLoop: context.eventLoop, linger: linger, window: window, logger: context.logger)
            let presence = RedisPresenceStore(client: broker.commands, timing: context.presenceTiming, logger: context.logger)
            return NodeBackend(broker: broker, presenceStore: presence, name: "redis")
        }
    }
}
