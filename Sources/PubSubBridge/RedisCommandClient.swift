import Logging
import NIOCore

/// A command connection that reconnects in the background after it drops.
///
/// While disconnected, commands fail at once with ``RedisError/notConnected`` instead of queueing,
/// so callers can answer "service unavailable" rather than pile up work. While connected, each command
/// has a deadline (``RedisConfiguration/commandTimeout``) and the queue of commands waiting for replies
/// is bounded (``RedisConfiguration/maxPendingCommands``); a missed deadline or an unanswered keepalive
/// `PING` closes the connection, which then reconnects.
public final class RedisCommandClient: RedisCommandRouter {
    private let supervisor: RedisConnectionSupervisor

    /// The event loop that owns the connection and completes the returned futures.
    public var eventLoop: EventLoop {
        self.supervisor.eventLoop
    }

    public init(configuration: RedisConfiguration, eventLoop: EventLoop, logger: Logger) {
        self.supervisor = RedisConnectionSupervisor(
            configuration: configuration,
            eventLoop: eventLoop,
            logger: logger,
            role: "command"
        )
    }

    /// Starts connecting in the background; returns immediately.
    public func start() {
        self.supervisor.start(onConnected: { _ in }, onDisconnected: {})
    }

    /// Starts connecting in the background and reports each connect and each loss, on ``eventLoop``.
    func start(onConnectionChange: @escaping @Sendable (_ connected: Bool) -> Void) {
        self.supervisor.start(onConnected: { _ in onConnectionChange(true) }, onDisconnected: { onConnectionChange(false) })
    }

    /// Whether a connection is open right now. Callable from any thread.
    public var isConnected: Bool {
        self.supervisor.connection != nil
    }

    /// Why the client is not connected right now (the last connect failure, or why the connection closed);
    /// `nil` while connected. Callable from any thread.
    public var problem: String? {
        self.supervisor.problem
    }

    /// Sends a command (name first) on the current connection.
    ///
    /// Fails with ``RedisError/notConnected`` while reconnecting, ``RedisError/shutDown`` after ``shutdown()``,
    /// ``RedisError/serverError(_:)`` for a Redis error reply, ``RedisError/timeout(_:)`` when Redis does not
    /// answer within the command timeout, and ``RedisError/tooManyPendingCommands(limit:)`` when too many
    /// commands already wait for replies.
    public func send(_ arguments: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        switch self.supervisor.availability {
        case .connected(let connection):
            return connection.send(arguments)
        case .disconnected:
            return self.eventLoop.makeFailedFuture(RedisError.notConnected)
        case .shutDown:
            return self.eventLoop.makeFailedFuture(RedisError.shutDown)
        }
    }

    /// Sends `commands` back to back on the current connection, so Redis runs them in this order with
    /// no other command of this client between them (`ASKING` before a command, `WAIT` after a write).
    /// Each future completes with its own command's reply.
    func send(inOrder commands: [[ByteBuffer]]) -> [EventLoopFuture<RESPValue>] {
        switch self.supervisor.availability {
        case .connected(let connection):
            return commands.map { connection.send($0) }
        case .disconnected:
            return commands.map { _ in self.eventLoop.makeFailedFuture(RedisError.notConnected) }
        case .shutDown:
            return commands.map { _ in self.eventLoop.makeFailedFuture(RedisError.shutDown) }
        }
    }

    /// The one server serves every key; with `replication`, `WAIT` follows the command on the same connection.
    public func send(_ arguments: [ByteBuffer], key: String?, replication: RedisReplicationWait?) -> EventLoopFuture<RESPValue> {
        guard let replication, replication.replicas > 0 else { return self.send(arguments) }
        let replies = self.send(inOrder: [arguments, replication.command(replicas: replication.replicas)])
        return replies[0].flatMap { reply in replies[1].map { _ in reply } }
    }

    /// This client itself: a standalone Redis is its own only primary.
    public var primaryClients: [RedisCommandClient] {
        [self]
    }

    /// Sends a command given as text arguments, e.g. `send("GET", "key")`.
    public func send(_ arguments: String...) -> EventLoopFuture<RESPValue> {
        self.send(arguments.map { ByteBuffer(string: $0) })
    }

    /// Publishes `message` on `channel`; returns how many subscribers (connections, cluster-wide) received it.
    public func publish(channel: String, message: ByteBuffer) -> EventLoopFuture<Int64> {
        self.send([ByteBuffer(string: "PUBLISH"), ByteBuffer(string: channel), message]).flatMapThrowing { reply in
            guard case .integer(let receivers) = reply else {
                throw RedisError.protocolError("PUBLISH answered \(reply) instead of an integer")
            }
            return receivers
        }
    }

    /// Stops reconnecting and closes the connection; commands in flight fail with ``RedisError/connectionClosed``.
    public func shutdown() -> EventLoopFuture<Void> {
        self.supervisor.shutdown()
    }
}
