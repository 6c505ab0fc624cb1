import Logging
import NIOCore

/// One command connection to a single Redis per event loop: a command sent from one of these
/// loops goes out on that loop's own connection and its reply completes there, so a request
/// served on a loop (an HTTP publish) never hops to another thread and back for its Redis round
/// trip. A command from any other thread uses the first loop's connection.
///
/// Commands from different loops travel on different connections, so Redis may run them in
/// either order; commands from one loop keep their order.
public final class RedisLoopLocalClients: RedisCommandRouter {
    private let clients: [RedisCommandClient]

    /// - Parameter eventLoops: the loops to keep a connection on; at least one.
    ///
    /// The connections flush once per pass of their loop
    /// (``RedisConfiguration/flushesOncePerLoopPass``): the commands of every request a loop read
    /// in one pass leave in one `write`.
    public init(configuration: RedisConfiguration, eventLoops: [EventLoop], logger: Logger) {
        precondition(!eventLoops.isEmpty, "RedisLoopLocalClients needs at least one event loop")
        var configuration = configuration
        configuration.flushesOncePerLoopPass = true
        self.clients = eventLoops.map { RedisCommandClient(configuration: configuration, eventLoop: $0, logger: logger) }
    }

    /// The first loop's; a command sent from one of the loops completes on that loop instead.
    public var eventLoop: EventLoop { clients[0].eventLoop }

    public func start() {
        for client in clients { client.start() }
    }

    /// The calling loop's connection, or the first one for any other caller.
    private var local: RedisCommandClient {
        clients.first { $0.eventLoop.inEventLoop } ?? clients[0]
    }

    public func send(_ arguments: [ByteBuffer], key: String?, replication: RedisReplicationWait?) -> EventLoopFuture<RESPValue> {
        local.send(arguments, key: key, replication: replication)
    }

    /// One server: any of the connections reaches it, for commands meant for every primary.
    public var primaryClients: [RedisCommandClient] { [clients[0]] }

    public var isConnected: Bool { clients.allSatisfy(\.isConnected) }

    public var problem: String? { clients.lazy.compactMap(\.problem).first }

    public func shutdown() -> EventLoopFuture<Void> {
        EventLoopFuture.andAllComplete(clients.map { $0.shutdown() }, on: eventLoop)
    }
}
