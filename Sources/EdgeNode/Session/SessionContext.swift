import HeraldBroker
import Logging
import NIOCore

/// What every session on one event loop shares: the node's services and its per-connection
/// limits. Held once per loop (by its shard) so each connection carries one reference rather
/// than its own copies — memory per idle connection is one of the figures the product is judged on.
final class SessionContext {
    /// The node's limits for each connection.
    struct Limits: Sendable {
        var nodeID: String
        var heartbeatSeconds: Int
        var maxSubscriptions: Int
        var messagesPerSecond: Int
        var messageBurst: Int
        var maxReplayEvents: Int
        /// The least time between two resumes.
        var resumeInterval: TimeAmount
        /// Bytes of live events held during a replay before the client counts as too slow.
        var maxHeldBytes: Int
        /// Added to a token's `exp` before the session closes with 4003.
        var tokenLeeway: TimeAmount = .zero
        /// What goes upstream; nil when the node has no upstream.
        var upstream: UpstreamPolicy? = nil
    }

    let limits: Limits
    let shard: ConnectionShard
    let broker: any EventBroker
    let upstream: (any UpstreamSink)?
    let encodings: FrameEncodings
    let presence: PresenceTracker
    let metrics: NodeMetrics
    let logger: Logger
    let eventLoop: EventLoop
    /// Verifies the tokens of `refresh` messages; nil refuses them.
    let tokens: TokenVerifier?

    init(
        limits: Limits, shard: ConnectionShard, broker: any EventBroker, encodings: FrameEncodings, upstream: (any UpstreamSink)? = nil,
        presence: PresenceTracker, metrics: NodeMetrics, logger: Logger, tokens: TokenVerifier? = nil
    ) {
        self.limits = limits
        self.shard = shard
        self.broker = broker
        self.upstream = upstream
        self.encodings = encodings
        self.presence = presence
        self.metrics = metrics
        self.logger = logger
        self.eventLoop = shard.eventLoop
        self.tokens = tokens
    }
}
