import HeraldBroker
import Logging
import NIOCore
import Presence

/// What a node runs on: the broker events come from and go to, and the store presence lives in.
/// The executable chooses it (Redis, or embedded for a single node) and hands the node a factory,
/// so the node itself knows neither Redis nor URLs.
public struct NodeBackend: Sendable {
    /// What a factory gets from the node.
    public struct Context: Sendable {
        /// One of the node's event loops, for the backend's connections and timers.
        public var eventLoop: EventLoop
        /// Every event loop of the node (HTTP requests are served on all of them), for a backend
        /// that keeps a connection per loop so a request's round trip stays on its loop.
        public var eventLoops: [EventLoop] = []
        /// Presence entry and typing timing, as the node uses it.
        public var presenceTiming: PresenceTiming
        /// The node's id, as its connections' ids and the upstream's `node` field carry it.
        public var nodeID: String
        public var logger: Logger
    }

    /// Builds a backend when the node starts.
    public typealias Factory = @Sendable (Context) throws -> NodeBackend

    public var broker: any EventBroker
    public var presenceStore: any PresenceStore
    /// Where client messages that are not Herald's own go; nil: nowhere (they get `unknown_type`).
    public var upstream: (any UpstreamSink)?
    /// Where connection opens and closes are reported; nil: nowhere.
    public var lifecycle: (any LifecycleRecorder)?
    /// Named in logs, e.g. `redis` or `embedded`.
    public var name: String

    public init(
        broker: any EventBroker, presenceStore: any PresenceStore, upstream: (any UpstreamSink)? = nil,
        lifecycle: (any LifecycleRecorder)? = nil, name: String
    ) {
        self.broker = broker
        self.presenceStore = presenceStore
        self.upstream = upstream
        self.lifecycle = lifecycle
        self.name = name
    }

    /// The single-node backend: the embedded broker, and presence in memory whose events go
    /// through that broker.
    public static func embedded(window: HistoryWindow = HistoryWindow()) -> Factory {
        { context in
            let broker = EmbeddedBroker(eventLoop: context.eventLoop, window: window)
            let presence = MemoryPresenceStore(eventLoop: context.eventLoop, timing: context.presenceTiming) { account, event in
                _ = broker.publish(account: account, payload: event, history: false)
            }
            return NodeBackend(broker: broker, presenceStore: presence, name: "embedded")
        }
    }
}
