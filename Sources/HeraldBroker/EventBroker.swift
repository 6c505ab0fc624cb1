import NIOCore
import HeraldProtocol

/// Where events for accounts come from and go to: Redis pub/sub across nodes, or the embedded
/// in-process broker for a single node. The edge node only sees this abstraction.
public protocol EventBroker: Sendable {
    /// Starts the broker. `deliver` receives every event of a retained account, in publish
    /// order, one call at a time; `subscribed` says that an account's events flow from now on
    /// (after its first retain, and again after every reconnect: what was published before may
    /// have been missed); `readinessChanged` reports whether publishes can flow. `deliver` and
    /// `subscribed` run on ``eventLoop``.
    func start(
        deliver: @escaping @Sendable (_ account: String, _ payload: ByteBuffer) -> Void,
        subscribed: @escaping @Sendable (_ account: String) -> Void,
        readinessChanged: @escaping @Sendable (_ ready: Bool) -> Void
    )
    /// The event loop that runs `deliver` and `subscribed`.
    var eventLoop: EventLoop { get }
    /// Declares local interest in an account; the first retain subscribes.
    func retain(account: String)
    /// Drops one interest; the last release unsubscribes (possibly after a linger).
    func release(account: String)
    /// Publishes `payload` to every node's clients of `account`; succeeds with a receipt.
    /// With `history`, the event is first appended to the account's history and carries its offset.
    /// `payload` is an event the caller built and checked (a JSON object of valid UTF-8 without an
    /// `offset`, a type that is not reserved, targets of the right types — what the HTTP API's
    /// validation guarantees): a broker may store it without checking it again.
    func publish(account: String, payload: ByteBuffer, history: Bool) -> EventLoopFuture<PublishReceipt>
    /// The account's current history position, where a client that connects now starts.
    func position(account: String) -> EventLoopFuture<StreamOffset>
    /// Up to `limit` history events after `offset`, or `truncated` when they cannot all be had.
    /// With `total`, a page that `exceedsTotal` (and no events) when more than `total` events follow.
    func history(account: String, after offset: StreamOffset, limit: Int, total: Int?) -> EventLoopFuture<HistoryPage>
    /// True while publishes and deliveries can flow.
    var isReady: Bool { get }
    /// Why the broker is not ready, for `/readyz` and operators; nil when ready.
    var readinessProblem: String? { get }
    /// Stops the broker and releases its connections.
    func shutdown() -> EventLoopFuture<Void>
}

extension EventBroker {
    public var readinessProblem: String? {
        isReady ? nil : "the broker is unavailable"
    }
}

/// What a publish reports back.
public struct PublishReceipt: Sendable, Equatable {
    /// Nodes (Redis subscribers) that received the event; nil when the publish path does not say
    /// (the history function reports the offset only).
    public var nodes: Int?
    /// The history offset; nil for a live-only publish.
    public var offset: String?

    public init(nodes: Int?, offset: String? = nil) {
        self.nodes = nodes
        self.offset = offset
    }
}
