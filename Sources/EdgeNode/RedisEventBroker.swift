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
    private let commands: RedisCommandClient
    private let subscriber = NIOLockedValueBox<RedisSubscriber?>(nil)

    public init(configuration: RedisConfiguration, eventLoop: EventLoop, linger: TimeAmount, logger: Logger) {
        self.configuration = configuration
        self.subscriberLoop = eventLoop
        self.linger = linger
        self.logger = logger
        self.commands = RedisCommandClient(configuration: configuration, eventLoop: eventLoop, logger: logger)
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
    }

    public func retain(account: String) {
        subscriber.withLockedValue { $0 }?.retain(channel: Self.channel(for: account))
    }

    public func release(account: String) {
        subscriber.withLockedValue { $0 }?.release(channel: Self.channel(for: account))
    }

    public func publish(account: String, payload: ByteBuffer) -> EventLoopFuture<PublishReceipt> {
        commands.publish(channel: Self.channel(for: account), message: payload).map { PublishReceipt(nodes: Int($0)) }
    }

    public var isReady: Bool {
        (subscriber.withLockedValue { $0 }?.isConnected ?? false) && commands.isConnected
    }

    public func shutdown() -> EventLoopFuture<Void> {
        let subscriberDone = subscriber.withLockedValue { $0 }?.shutdown() ?? subscriberLoop.makeSucceededVoidFuture()
        return subscriberDone.and(commands.shutdown()).map { _ in }
    }
}
