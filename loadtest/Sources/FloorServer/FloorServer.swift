import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The "floor": the least a WebSocket broadcast server can do, to measure the load tool and the
/// machine against. No Redis, no auth, no JSON: `GET /sub/{key}` upgrades and joins group `key`;
/// `POST /pub/{key}` sends the request body, framed once, to every connection of that group
/// (grouped per event loop, one flush per loop). Whatever Herald costs above this is Herald.
public final class FloorServer: Sendable {
    /// The port actually bound (useful with port 0).
    public let port: Int
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup
    let registry: SubscriberRegistry

    private init(channel: Channel, group: MultiThreadedEventLoopGroup, registry: SubscriberRegistry) {
        self.channel = channel
        self.group = group
        self.registry = registry
        self.port = channel.localAddress?.port ?? 0
    }

    /// Starts listening on `host:port` with `eventLoops` threads. `relay` decides what each
    /// published body turns into (the identity by default; tests inject faults here).
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, eventLoops: Int = System.coreCount,
        relay: any FloorRelay = PassThroughRelay(), logger: Logger = Logger(label: "floor")
    ) async throws -> FloorServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
        let registry = SubscriberRegistry()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 16, automaticErrorHandling: true,
                    shouldUpgrade: { channel, head in
                        channel.eventLoop.makeSucceededFuture(head.uri.hasPrefix("/sub/") ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, head in
                        let key = String(head.uri.dropFirst("/sub/".count))
                        registry.add(channel, key: key)
                        channel.closeFuture.whenComplete { _ in registry.remove(channel, key: key) }
                        return channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(FloorSubscriberHandler())
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    let publish = FloorPublishHandler(registry: registry, relay: relay)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.removeHandler(name: "floor.publish", promise: nil)
                        }))
                    try channel.pipeline.syncOperations.addHandler(publish, name: "floor.publish")
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        logger.info("floor server listening", metadata: ["floor.port": "\(channel.localAddress?.port ?? 0)"])
        return FloorServer(channel: channel, group: group, registry: registry)
    }

    /// Connections currently subscribed.
    public var subscriberCount: Int { registry.count }

    /// Closes the listener and every connection, and stops the threads.
    public func stop() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }
}

/// Decides what one published body becomes: the bodies to deliver, in order. The floor passes it
/// through; tests drop, duplicate and reorder on purpose.
public protocol FloorRelay: Sendable {
    func deliveries(key: String, body: ByteBuffer) -> [ByteBuffer]
}

/// Delivers every body once, as published.
public struct PassThroughRelay: FloorRelay {
    public init() {}
    public func deliveries(key: String, body: ByteBuffer) -> [ByteBuffer] { [body] }
}
