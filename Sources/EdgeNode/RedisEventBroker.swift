import Logging
import NIOConcurrencyHelpers
import NIOCore
import PubSubBridge

/// Redis pub/sub as the event broker: one subscriber connection per node with per-account
/// interest, and a command connection for publishing. Channel names follow the schema
/// `herald:{account}`, whose hash tag keeps an account on one Redis Cluster slot.
public final class RedisEventBroker: EventBroker {
    private let subscriberLoop: EventLoop
    private let configuration: RedisConfiguration
    private let linger: TimeAmount
    private let logger: Logger
    /// The command connection, shared with other Redis-backed parts of the node (presence).
    public let commands: RedisCommandClient
    private let historyStore: RedisHistory
    private let subscriber = NIOLockedValueBox<RedisSubscriber?>(nil)

    public init(configuration: RedisConfiguration, eventLoop: EventLoop, linger: TimeAmount, window: HistoryWindow, logger: Logger) {
        self.configuration = configuration
        self.subscriberLoop = eventLoop
        self.linger = linger
        self.logger = logger
        self.commands = RedisCommandClient(configuration: configuration, eventLoop: eventLoop, logger: logger)
        self.historyStore = RedisHistory(client: commands, window: window)
    }

    /// The pub/sub channel of an account.
    public static func channel(for account: String) -> String { "herald:{\(account)}" }

    /// The account of a pub/sub channel; nil for channels outside the schema.
    public static func account(inChannel channel: String) -> String? {
        guard channel.hasPrefix("herald:{"), channel.hasSuffix("}") else { return nil }
        return String(channel.dropFirst("herald:{".count).dropLast())
    }

    public func start(
        deliver: @escaping @Sendable (String, ByteBuffer) -> Void,
        readinessChanged: @escaping @Sendable (Bool) -> Void
    ) {
        let logger = self.logger
        let subscriber = RedisSubscriber(
            configuration: configuration,
            eventLoop: subscriberLoop,
            logger: logger,
            linger: linger,
            onMessage: { channel, payload in
                guard let account = Self.account(inChannel: channel) else {
                    logger.debug("message on a channel outside the schema", metadata: ["redis.channel": "\(channel)"])
                    return
                }
                deliver(account, payload)
            },
            onConnectionStateChange: readinessChanged
        )
        self.subscriber.withLockedValue { $0 = subscriber }
        commands.start()
        subscriber.start()
        installFunctionsWhenConnected(attempt: 0)
    }

    public func retain(account: String) {
        subscriber.withLockedValue { $0 }?.retain(channel: Self.channel(for: account))
    }

    public func release(account: String) {
        subscriber.withLockedValue { $0 }?.release(channel: Self.channel(for: account))
    }

    public func publish(account: String, payload: ByteBuffer, history: Bool) -> EventLoopFuture<PublishReceipt> {
        let channel = Self.channel(for: account)
        guard history else {
            return commands.publish(channel: channel, message: payload).map { PublishReceipt(nodes: Int($0)) }
        }
        return withFunctions { $0.historyStore.publish(channel: channel, event: payload) }.map { offset in
            PublishReceipt(nodes: nil, offset: offset.description)
        }
    }

    public func position(account: String) -> EventLoopFuture<StreamOffset> {
        withFunctions { $0.historyStore.position(channel: Self.channel(for: account)) }
    }

    public func history(account: String, after offset: StreamOffset, limit: Int) -> EventLoopFuture<HistoryPage> {
        withFunctions { $0.historyStore.read(channel: Self.channel(for: account), after: offset, limit: limit) }
    }

    /// Runs `body`, installing the function library first when Redis does not have it (a fresh
    /// or restarted Redis without persistence has no functions).
    private func withFunctions<Value: Sendable>(_ body: @escaping @Sendable (RedisEventBroker) -> EventLoopFuture<Value>) -> EventLoopFuture<Value> {
        body(self).flatMapError { error in
            guard let redisError = error as? RedisError, redisError.serverMessage?.contains("Function not found") == true else {
                return self.subscriberLoop.makeFailedFuture(error)
            }
            return self.historyStore.installFunctions().flatMap { body(self) }
        }
    }

    /// Loads the function library once the command connection is up; retried with a delay,
    /// and again lazily by `withFunctions` after a Redis restart.
    private func installFunctionsWhenConnected(attempt: Int) {
        guard attempt < 600 else { return }
        guard commands.isConnected else {
            subscriberLoop.scheduleTask(in: .milliseconds(100)) { self.installFunctionsWhenConnected(attempt: attempt + 1) }
            return
        }
        historyStore.installFunctions().whenFailure { error in
            self.logger.warning("could not load the herald function library", metadata: ["error": "\(error)"])
            self.subscriberLoop.scheduleTask(in: .seconds(1)) { self.installFunctionsWhenConnected(attempt: attempt + 1) }
        }
    }

    public var isReady: Bool {
        (subscriber.withLockedValue { $0 }?.isConnected ?? false) && commands.isConnected
    }

    public func shutdown() -> EventLoopFuture<Void> {
        let subscriberDone = subscriber.withLockedValue { $0 }?.shutdown() ?? subscriberLoop.makeSucceededVoidFuture()
        return subscriberDone.and(commands.shutdown()).map { _ in }
    }
}
