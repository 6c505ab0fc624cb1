import NIOCore

/// Reference-counted interest in pub/sub channels, kept subscribed across reconnects: one
/// connection to a standalone Redis (``RedisSubscriber``), or one per Redis Cluster primary with
/// sharded channels (``RedisShardedSubscriber``). Messages and reports go to the callbacks given
/// when it was made.
public protocol RedisChannelSubscriber: AnyObject, Sendable {
    /// The event loop that runs the callbacks.
    var eventLoop: EventLoop { get }
    /// Starts connecting in the background; returns immediately.
    func start()
    /// Adds a reference to `channel`, subscribing if it is the first. Callable from any thread.
    func retain(channel: String)
    /// Drops a reference to `channel`; the last one unsubscribes after the linger time. Callable from any thread.
    func release(channel: String)
    /// Whether every retained channel is subscribed on a live connection.
    var isConnected: Bool { get }
    /// Why it is not connected, or `nil` when it is.
    var problem: String? { get }
    /// Stops reconnecting and closes the connections; no callbacks run after the returned future completes.
    func shutdown() -> EventLoopFuture<Void>
}
