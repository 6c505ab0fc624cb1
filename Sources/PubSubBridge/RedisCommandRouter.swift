import NIOCore

/// Sends each command to the Redis node that serves its key: the one server of a standalone Redis
/// (``RedisCommandClient``), or the primary of the key's hash slot in a Redis Cluster
/// (``RedisClusterCommandClient``). Code above it names the key and never the node.
public protocol RedisCommandRouter: AnyObject, Sendable {
    /// The event loop that completes the returned futures.
    var eventLoop: EventLoop { get }

    /// Starts connecting in the background; returns immediately.
    func start()

    /// Sends a command (name first) to the node serving `key`; any node when `key` is nil.
    ///
    /// With `replication`, the reply is held until `WAIT` on the same connection has seen the write
    /// reach that many replicas, or its timeout passed (the reply is returned either way).
    func send(_ arguments: [ByteBuffer], key: String?, replication: RedisReplicationWait?) -> EventLoopFuture<RESPValue>

    /// The connections to every primary right now: the one server of a standalone Redis, every
    /// primary of a cluster (including those that serve no slots yet). For commands that must reach
    /// every primary, such as `FUNCTION LOAD`.
    var primaryClients: [RedisCommandClient] { get }

    /// Whether every node that serves keys is connected.
    var isConnected: Bool { get }

    /// Why the router is not connected, or `nil` when it is.
    var problem: String? { get }

    /// Stops reconnecting and closes every connection.
    func shutdown() -> EventLoopFuture<Void>
}

extension RedisCommandRouter {
    /// Sends a command to the node serving `key` (any node when nil).
    public func send(_ arguments: [ByteBuffer], key: String?) -> EventLoopFuture<RESPValue> {
        send(arguments, key: key, replication: nil)
    }

    /// Sends a command given as text arguments to the node serving `key`.
    public func send(key: String?, _ arguments: String...) -> EventLoopFuture<RESPValue> {
        send(arguments.map { ByteBuffer(string: $0) }, key: key, replication: nil)
    }
}

/// How many replicas a write must reach before it is reported done (`WAIT numreplicas timeout`).
public struct RedisReplicationWait: Sendable, Equatable {
    /// Replicas to wait for; a cluster shard with fewer healthy replicas waits for those it has.
    public var replicas: Int
    /// The longest wait; the write is reported done after it even when fewer replicas confirmed.
    public var timeout: TimeAmount

    public init(replicas: Int, timeout: TimeAmount) {
        self.replicas = replicas
        self.timeout = timeout
    }

    /// `WAIT <replicas> <milliseconds>` for at most `replicas`.
    func command(replicas: Int) -> [ByteBuffer] {
        ["WAIT", String(replicas), String(max(1, timeout.nanoseconds / 1_000_000))].map { ByteBuffer(string: $0) }
    }
}
