import Atomics
import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore

/// Makes the session of an admitted client on its connection's event loop, with the node's
/// limits; shared by every transport.
struct SessionFactory: Sendable {
    let configuration: EdgeNodeConfiguration
    let fanOut: EventFanOut
    let broker: any EventBroker
    let upstream: (any UpstreamSink)?
    let presence: PresenceTracker
    let metrics: NodeMetrics
    let logger: Logger
    let serial: ManagedAtomic<UInt64>
    /// Verifies `refresh` tokens.
    var tokens: TokenVerifier? = nil

    /// A new session for `acceptance`, confined to `eventLoop`.
    func makeSession(for acceptance: HandshakeAuthenticator.Acceptance, on eventLoop: EventLoop) throws -> Session {
        guard let shard = fanOut.shard(for: eventLoop) else { throw ChannelError.inappropriateOperationForState }
        let number = serial.wrappingIncrementThenLoad(ordering: .relaxed)
        let settings = Session.Settings(
            connectionID: "\(configuration.nodeID)-\(number)", startOffset: acceptance.offset.flatMap(StreamOffset.init),
            channels: acceptance.channels, since: acceptance.since, expiresAt: acceptance.expiresAt)
        return Session(identity: acceptance.identity, settings: settings, context: context(for: shard))
    }

    /// The context the sessions of `shard`'s loop share, made by the first of them.
    private func context(for shard: ConnectionShard) -> SessionContext {
        if let context = shard.sessionContext { return context }
        let limits = SessionContext.Limits(
            nodeID: configuration.nodeID, heartbeatSeconds: configuration.heartbeatSeconds,
            maxSubscriptions: configuration.maxSubscriptionsPerConnection, messagesPerSecond: configuration.clientMessagesPerSecond,
            messageBurst: configuration.clientMessageBurst, maxReplayEvents: configuration.maxReplayEvents,
            resumeInterval: configuration.resumeInterval, maxHeldBytes: configuration.outboundBufferBytes,
            tokenLeeway: .seconds(Int64(configuration.authentication.leewaySeconds)), upstream: configuration.upstream)
        let context = SessionContext(
            limits: limits, shard: shard, broker: broker, encodings: fanOut.encodings, upstream: upstream, presence: presence,
            metrics: metrics, logger: logger, tokens: tokens)
        shard.sessionContext = context
        return context
    }
}
