import Atomics
import HeraldBroker
import HeraldProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Presence
import ServiceLifecycle

/// One Herald edge node as a Service: HTTP and WebSocket on SwiftNIO, fan-out from the event
/// broker (Redis, or embedded), and a graceful drain on shutdown.
///
/// Connections are served by plain channel handlers rather than async sequences: fan-out writes
/// the same bytes to thousands of channels per event, and a handler per connection costs far less
/// memory than a task per connection.
public final class EdgeNodeServer: Service, Sendable {
    private let configuration: EdgeNodeConfiguration
    private let makeBackend: NodeBackend.Factory
    private let logger: Logger
    public let metrics: NodeMetrics
    private let group: MultiThreadedEventLoopGroup
    private let listening: EventLoopPromise<Int>
    private let connectionSerial = ManagedAtomic<UInt64>(0)

    /// - Parameter backend: builds the broker and presence store when the node starts (Redis, or
    ///   ``NodeBackend/embedded(window:)`` for a single node).
    public init(configuration: EdgeNodeConfiguration, backend: @escaping NodeBackend.Factory, logger: Logger, metrics: NodeMetrics = NodeMetrics()) {
        self.configuration = configuration
        self.makeBackend = backend
        var logger = logger
        logger[metadataKey: "node.id"] = "\(configuration.nodeID)"
        self.logger = logger
        self.metrics = metrics
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(configuration.eventLoopCount, 64)))
        self.listening = group.next().makePromise(of: Int.self)
    }

    /// The port the node listens on, once bound (useful with port 0).
    public func listeningPort() async throws -> Int {
        try await listening.futureResult.get()
    }

    public func run() async throws {
        do {
            try await serve()
        } catch {
            listening.fail(error)
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func serve() async throws {
        let jwks = try configuration.authentication.jwksURL.map { url in
            try JWKSSource(
                configuration: JWKSSource.Configuration(
                    url: url, refreshInterval: configuration.authentication.jwksRefreshInterval,
                    minimumRefreshInterval: configuration.authentication.jwksMinimumRefreshInterval),
                logger: self.logger, metrics: self.metrics)
        }
        // Fetches the JWKS until the listener has closed; readiness waits for its first good fetch.
        let keyRefresh = jwks.map { source in Task { try await source.run() } }
        defer { keyRefresh?.cancel() }
        let verifier = try await TokenVerifier(configuration.authentication, jwks: jwks)
        let authenticator = HandshakeAuthenticator(
            verifier: verifier, allowedOrigins: configuration.allowedOrigins, maxChannels: configuration.maxSubscriptionsPerConnection)
        let backend = try makeBackend(NodeBackend.Context(
            eventLoop: group.next(), eventLoops: Array(group.makeIterator()), presenceTiming: configuration.presenceTiming,
            nodeID: configuration.nodeID, logger: logger))
        let broker = backend.broker
        let descriptors = DescriptorBudget.current()
        let maxConnections = configuration.maxConnections ?? descriptors.sessions
        let readiness = NodeReadiness(broker: broker, keys: jwks, maxConnections: maxConnections)
        let interest = AccountInterest(broker: broker)
        let presence = PresenceTracker(
            store: backend.presenceStore, timing: configuration.presenceTiming,
            typingEcho: configuration.typingEcho, eventLoop: group.next(), logger: logger)
        var shards: [NIOLoopBound<ConnectionShard>] = []
        for (index, loop) in group.makeIterator().enumerated() {
            let metrics = self.metrics
            let lifecycle = backend.lifecycle
            let heartbeat = TimeAmount.seconds(Int64(configuration.heartbeatSeconds))
            shards.append(try await loop.submit {
                let shard = ConnectionShard(
                    eventLoop: loop, index: index, interest: interest, metrics: metrics, readiness: readiness, presence: presence, lifecycle: lifecycle)
                shard.startIdleSweep(heartbeat: heartbeat)
                return NIOLoopBound(shard, eventLoop: loop)
            }.get())
        }
        let loopShards = shards
        // Each transport's framing, registered once: the fan-out encodes every event once per transport.
        var encodings = FrameEncodings()
        let webSocketEncoding = encodings.register(FrameEncodings.webSocket)
        let sseEncoding = encodings.register(FrameEncodings.serverSentEvents)
        let socketIOEncoding = encodings.register(FrameEncodings.socketIO)
        let fanOut = EventFanOut(
            shards: loopShards, interest: interest, broker: broker, presence: presence, encodings: encodings, metrics: metrics, logger: logger)
        let logger = self.logger
        broker.start(
            deliver: { account, payload in fanOut.deliver(account: account, payload: payload) },
            subscribed: { account in fanOut.subscribed(account: account) },
            readinessChanged: { ready in logger.info("broker \(ready ? "ready" : "unavailable")") }
        )

        presence.start()
        let admission = SessionAdmission(
            authenticator: authenticator, readiness: readiness, broker: broker, metrics: metrics,
            maxConnectionsPerUser: configuration.maxConnectionsPerUser, maxPendingHandshakes: configuration.maxPendingHandshakes)
        let sessions = SessionFactory(
            configuration: configuration, fanOut: fanOut, broker: broker, upstream: backend.upstream, presence: presence, metrics: metrics, logger: logger,
            serial: connectionSerial, tokens: verifier)
        var http = makeRouter(broker: broker, readiness: readiness, presence: presence)
        // Each transport's entry: its upgrade, its routes.
        var webSockets = WebSocketEntries(maxFrameSize: configuration.maxClientMessageBytes)
        webSockets.add(WebSocketUpgrade(
            admission: admission, sessions: sessions, encoding: webSocketEncoding, maxMessageBytes: configuration.maxClientMessageBytes,
            refusals: configuration.upgradeRefusals))
        ServerSentEventsEntry(admission: admission, sessions: sessions, encoding: sseEncoding, configuration: configuration)
            .install(into: &http)
        SocketIOEntry(admission: admission, sessions: sessions, encoding: socketIOEncoding, configuration: configuration)
            .install(into: &http, webSockets: &webSockets)
        let initializer = ConnectionInitializer(router: http, webSockets: webSockets, requestTimeout: configuration.handshakeTimeout)

        let openChannels = ManagedAtomic(0)
        let connectionCap = descriptors.connectionCap(maxSessions: maxConnections)
        let metrics = self.metrics
        let serverChannel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Each channel keeps its last receive buffer for reuse: small and fixed until the
            // first request shows a plain HTTP connection (``ReceiveBuffers``).
            .childChannelOption(.recvAllocator, value: ReceiveBuffers.upgrading)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: configuration.outboundBufferBytes / 2, high: configuration.outboundBufferBytes))
            .childChannelInitializer { channel in
                // Past the cap a connection is closed at once, so the descriptors kept in reserve
                // stay free for health checks, metrics and Redis however many clients knock.
                guard openChannels.wrappingIncrementThenLoad(ordering: .relaxed) <= connectionCap else {
                    openChannels.wrappingDecrement(ordering: .relaxed)
                    metrics.connectionsShed.increment()
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in openChannels.wrappingDecrement(ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    try initializer.configure(channel: channel)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let port = serverChannel.localAddress?.port ?? configuration.port
        listening.succeed(port)
        logger.info("edge node listening", metadata: [
            "listen.host": "\(configuration.host)", "listen.port": "\(port)",
            "broker": "\(backend.name)", "connections.max": "\(maxConnections)", "upstream": "\(backend.upstream?.destination ?? "none")",
        ])

        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await serverChannel.closeFuture.get()
            } onCancel: {
                serverChannel.close(promise: nil)
            }
        } onGracefulShutdown: {
            self.drain(serverChannel: serverChannel, shards: loopShards, readiness: readiness)
        }
        for shard in loopShards {
            try? await shard.eventLoop.submit { shard.value.stop() }.get()
        }
        try? await presence.stop().get()
        try? await backend.upstream?.shutdown().get()
        try? await broker.shutdown().get()
        keyRefresh?.cancel()
        _ = await keyRefresh?.result
        logger.info("edge node stopped")
    }

    /// The HTTP side of the node: one endpoint per route.
    private func makeRouter(broker: any EventBroker, readiness: NodeReadiness, presence: PresenceTracker) -> HTTPRouter {
        let apiKeys = APIKeyVerifier(keys: configuration.apiKeys)
        var router = HTTPRouter()
        router.add(.GET, "/healthz", HealthEndpoint())
        router.add(.GET, "/readyz", ReadinessEndpoint(readiness: readiness))
        router.add(.GET, "/metrics", MetricsEndpoint(metrics: metrics))
        for (path, batch) in [("/api/v1/publish", false), ("/api/v1/publish/batch", true)] {
            router.add(.POST, path, PublishEndpoint(
                broker: broker, apiKeys: apiKeys, metrics: metrics, maxBodyBytes: configuration.maxRequestBodyBytes, batch: batch))
        }
        router.add(.GET, "/api/v1/accounts/{account}/presence", PresenceEndpoint(presence: presence, apiKeys: apiKeys))
        if let console = configuration.console { ConsoleEndpoint.install(console, into: &router) }
        return router
    }

    /// Readiness off, clients closed with 1012 in batches over half the drain timeout, then the
    /// listener closes: as soon as every client is gone, or when the drain timeout runs out.
    private func drain(serverChannel: Channel, shards: [NIOLoopBound<ConnectionShard>], readiness: NodeReadiness) {
        readiness.beginDraining()
        let batches = 10
        let interval = TimeAmount.nanoseconds(configuration.drainTimeout.nanoseconds / 2 / Int64(batches))
        logger.info("draining", metadata: ["connections": "\(readiness.openConnections)"])
        for shard in shards {
            shard.eventLoop.execute { shard.value.drain(batches: batches, interval: interval) }
        }
        let loop = serverChannel.eventLoop
        let deadline = NIODeadline.now() + configuration.drainTimeout
        @Sendable func check() {
            if readiness.openConnections <= 0 || NIODeadline.now() >= deadline {
                serverChannel.close(promise: nil)
            } else {
                loop.scheduleTask(in: .milliseconds(50)) { check() }
            }
        }
        loop.execute { check() }
    }
}
