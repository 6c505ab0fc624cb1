import Foundation
import HeraldBroker
import HeraldProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PubSubBridge

/// Redis pub/sub as the event broker: per-account interest on the node's subscriber, and command
/// connections for publishing and history. Channel names follow the schema `herald:{account}`,
/// whose hash tag keeps an account on one Redis Cluster slot.
///
/// On a single Redis: one subscriber connection (`SUBSCRIBE`) and one command connection. On a Redis
/// Cluster (``init(cluster:eventLoop:linger:window:replication:logger:)``): sharded pub/sub
/// (`SSUBSCRIBE`/`SPUBLISH`) with one subscriber and one command connection per primary, the
/// function libraries on every primary, and each account's channels following its slot through
/// failovers and reshards, every move reported as `subscribed` so the node fills the gap from history.
public final class RedisEventBroker: EventBroker {
    /// What the subscriber reports, handed to the factory that makes it.
    struct SubscriberCallbacks: Sendable {
        var onMessage: @Sendable (_ channel: String, _ payload: ByteBuffer) -> Void
        var onConnectionStateChange: @Sendable (_ connected: Bool) -> Void
        var onSubscribed: @Sendable (_ channel: String) -> Void
    }

    private let subscriberLoop: EventLoop
    private let logger: Logger
    /// A single Redis or a cluster.
    public let deployment: RedisDeployment
    /// The command connections, shared with other Redis-backed parts of the node (presence).
    public let commands: any RedisCommandRouter
    private let historyStore: RedisHistory
    /// Publishes go here: with one Redis, a connection per event loop, so an HTTP publish makes
    /// its round trip on the loop that read it (``RedisLoopLocalClients``); else ``commands``.
    private let publishCommands: (any RedisCommandRouter)?
    private let publishHistory: RedisHistory
    private let makeSubscriber: @Sendable (SubscriberCallbacks) -> any RedisChannelSubscriber
    private let cluster: RedisClusterCommandClient?
    private let subscriber = NIOLockedValueBox<(any RedisChannelSubscriber)?>(nil)

    /// A broker on one Redis server.
    ///
    /// - Parameters:
    ///   - replication: when set, a publish with history is acknowledged only after `WAIT`
    ///     saw it reach that many replicas (or the timeout passed).
    ///   - publishLoops: event loops that publish (the node's HTTP API runs on all of them): each
    ///     gets a command connection of its own for publishing. Empty: publishes share ``commands``.
    public convenience init(
        configuration: RedisConfiguration, eventLoop: EventLoop, linger: TimeAmount, window: HistoryWindow,
        replication: RedisReplicationWait? = nil, publishLoops: [EventLoop] = [], logger: Logger
    ) {
        let commands = RedisCommandClient(configuration: configuration, eventLoop: eventLoop, logger: logger)
        let publishCommands = publishLoops.isEmpty ? nil : RedisLoopLocalClients(configuration: configuration, eventLoops: publishLoops, logger: logger)
        self.init(
            deployment: .standalone, commands: commands, publishCommands: publishCommands, cluster: nil, eventLoop: eventLoop, window: window,
            replication: replication, logger: logger
        ) { callbacks in
            RedisSubscriber(
                configuration: configuration, eventLoop: eventLoop, logger: logger, linger: linger, onMessage: callbacks.onMessage,
                onConnectionStateChange: callbacks.onConnectionStateChange, onSubscribed: callbacks.onSubscribed)
        }
    }

    /// A broker on a Redis Cluster: sharded pub/sub and every command at the primary of its account's slot.
    ///
    /// - Parameter replication: when set, a publish with history is acknowledged only after `WAIT`
    ///   saw it reach that many replicas of its shard (at most as many as the shard has), so a
    ///   failover right after does not lose an acknowledged event.
    public convenience init(
        cluster configuration: RedisClusterConfiguration, eventLoop: EventLoop, linger: TimeAmount, window: HistoryWindow,
        replication: RedisReplicationWait?, logger: Logger
    ) {
        let cluster = RedisClusterCommandClient(configuration: configuration, eventLoop: eventLoop, logger: logger)
        self.init(
            deployment: .cluster, commands: cluster, cluster: cluster, eventLoop: eventLoop, window: window, replication: replication,
            logger: logger
        ) { callbacks in
            RedisShardedSubscriber(
                cluster: cluster, eventLoop: eventLoop, logger: logger, linger: linger, onMessage: callbacks.onMessage,
                onConnectionStateChange: callbacks.onConnectionStateChange, onSubscribed: callbacks.onSubscribed)
        }
    }

    init(
        deployment: RedisDeployment, commands: any RedisCommandRouter, publishCommands: (any RedisCommandRouter)? = nil,
        cluster: RedisClusterCommandClient?, eventLoop: EventLoop, window: HistoryWindow, replication: RedisReplicationWait?, logger: Logger,
        makeSubscriber: @escaping @Sendable (SubscriberCallbacks) -> any RedisChannelSubscriber
    ) {
        self.deployment = deployment
        self.commands = commands
        self.cluster = cluster
        self.subscriberLoop = eventLoop
        self.logger = logger
        self.historyStore = RedisHistory(client: commands, window: window, deployment: deployment, replication: replication, logger: logger)
        self.publishCommands = publishCommands
        self.publishHistory = publishCommands.map {
            RedisHistory(client: $0, window: window, deployment: deployment, replication: replication, logger: logger)
        } ?? historyStore
        self.makeSubscriber = makeSubscriber
    }

    public var eventLoop: EventLoop { subscriberLoop }

    public func start(
        deliver: @escaping @Sendable (String, ByteBuffer) -> Void,
        subscribed: @escaping @Sendable (String) -> Void,
        readinessChanged: @escaping @Sendable (Bool) -> Void
    ) {
        let logger = self.logger
        let subscriber = makeSubscriber(SubscriberCallbacks(
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
        ))
        self.subscriber.withLockedValue { $0 = subscriber }
        commands.start()
        publishCommands?.start()
        subscriber.start()
        installFunctionsWhenConnected(attempt: 0)
        // A new primary (a promoted replica, a node added for a reshard) gets the library before
        // calls reach it; one that still lacks it when they do is loaded then.
        cluster?.onTopologyChange { [weak self] _ in
            self?.historyStore.installFunctions().whenFailure { error in
                logger.debug("could not load the herald function library on every primary yet", metadata: ["error": "\(error)"])
            }
        }
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
            let arguments = [ByteBuffer(string: deployment.publishCommand), ByteBuffer(string: channel), payload]
            return (publishCommands ?? commands).send(arguments, key: channel).flatMapThrowing { reply in
                guard case .integer(let receivers) = reply else {
                    throw RedisError.protocolError("\(self.deployment.publishCommand) answered \(reply) instead of an integer")
                }
                return PublishReceipt(nodes: Int(receivers))
            }.flatMapErrorThrowing(Self.rethrow)
        }
        // The broker's publishers (the node's HTTP API) built and checked the event with the rules
        // `herald_publish` applies, so Redis does not check it again.
        return publishHistory.publish(channel: channel, event: payload, validated: true).map { offset in
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

    /// Loads the function library once the command connections are up, so backends can FCALL it
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
        (subscriber.withLockedValue { $0 }?.isConnected ?? false) && commands.isConnected && (publishCommands?.isConnected ?? true)
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
        if let publishCommands, !publishCommands.isConnected {
            return "Redis publish connection: \(publishCommands.problem ?? "not connected")"
        }
        return nil
    }

    public func shutdown() -> EventLoopFuture<Void> {
        let subscriberDone = subscriber.withLockedValue { $0 }?.shutdown() ?? subscriberLoop.makeSucceededVoidFuture()
        let publishDone = publishCommands?.shutdown() ?? subscriberLoop.makeSucceededVoidFuture()
        return subscriberDone.and(commands.shutdown()).and(publishDone).map { _ in }
    }
}
