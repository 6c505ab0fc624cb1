import Foundation
import HeraldBroker
import HeraldProtocol
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

    public var eventLoop: EventLoop { subscriberLoop }

    public func start(
        deliver: @escaping @Sendable (String, ByteBuffer) -> Void,
        subscribed: @escaping @Sendable (String) -> Void,
        readinessChanged: @escaping @Sendable (Bool) -> Void
    ) {
        let logger = self.logger
        let subscriber = RedisSubscriber(
            configuration: configuration,
            eventLoop: subscriberLoop,
            logger: logger,
            linger: linger,
            onMessage: { channel, payload in
                guard let account = AccountChannel.account(in: channel) else {
                    logger.debug("message on a channel outside the schema", metadata: ["redis.channel": "\(channel)"])
                    return
                }
                deliver(account, payload)
            },
            onConnectionStateChange: readinessChanged,
            onSubscribed: { channel in
                if let account = AccountChannel.account(in: channel) { subscribed(account) }
            }
        )
        self.subscriber.withLockedValue { $0 = subscriber }
        commands.start()
        subscriber.start()
        installFunctionsWhenConnected(attempt: 0)
    }

    public func retain(account: String) {
        subscriber.withLockedValue { $0 }?.retain(channel: AccountChannel.name(for: account))
    }

    public func release(account: String) {
        subscriber.withLockedValue { $0 }?.release(channel: AccountChannel.name(for: account))
    }

    public func publish(account: String, payload: ByteBuffer, history: Bool) -> EventLoopFuture<PublishReceipt> {
        let channel = AccountChannel.name(for: account)
        guard history else {
            return commands.publish(channel: channel, message: payload).map { PublishReceipt(nodes: Int($0)) }.flatMapErrorThrowing(Self.rethrow)
        }
        return historyStore.publish(channel: channel, event: payload).map { offset in
            PublishReceipt(nodes: nil, offset: offset.description)
        }.flatMapErrorThrowing(Self.rethrow)
    }

    public func position(account: String) -> EventLoopFuture<StreamOffset> {
        historyStore.position(channel: AccountChannel.name(for: account)).flatMapErrorThrowing(Self.rethrow)
    }

    public func history(account: String, after offset: StreamOffset, limit: Int, total: Int?) -> EventLoopFuture<HistoryPage> {
        historyStore.read(channel: AccountChannel.name(for: account), after: offset, limit: limit, total: total).flatMapErrorThrowing(Self.rethrow)
    }

    /// Redis errors as the broker's: the function library's refusals of an event (`ERR herald: …`)
    /// are `refused`, everything else means Redis is unavailable.
    @Sendable private static func rethrow<Value>(_ error: any Error) throws -> Value {
        guard let redis = error as? RedisError else { throw error }
        if let message = redis.serverMessage, message.hasPrefix(HeraldFunctionLibrary.refusalPrefix) {
            throw BrokerError.refused(String(message.dropFirst(HeraldFunctionLibrary.refusalPrefix.count)).trimmingCharacters(in: .whitespaces))
        }
        throw BrokerError.unavailable("\(redis)")
    }

    /// Loads the function library once the command connection is up, so backends can FCALL it
    /// from the start; after a Redis restart RedisHistory reloads it on the first call.
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

    /// The subscriber's problem first (a refused SUBSCRIBE names the channel and Redis's error), then the command connection's.
    public var readinessProblem: String? {
        guard let subscriber = subscriber.withLockedValue({ $0 }) else { return "Redis: not started" }
        if !subscriber.isConnected {
            return "Redis subscriber: \(subscriber.problem ?? "not connected")"
        }
        if !commands.isConnected {
            return "Redis command connection: \(commands.problem ?? "not connected")"
        }
        return nil
    }

    public func shutdown() -> EventLoopFuture<Void> {
        let subscriberDone = subscriber.withLockedValue { $0 }?.shutdown() ?? subscriberLoop.makeSucceededVoidFuture()
        return subscriberDone.and(commands.shutdown()).map { _ in }
    }
}
