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
            connectionID: "\(configuration.nodeID)-\(number)", nodeID: configuration.nodeID,
            heartbeatSeconds: configuration.heartbeatSeconds, maxSubscriptions: configuration.maxSubscriptionsPerConnection,
            messagesPerSecond: configuration.clientMessagesPerSecond, messageBurst: configuration.clientMessageBurst,
            startOffset: acceptance.offset.flatMap(StreamOffset.init), channels: acceptance.channels,
            since: acceptance.since, maxReplayEvents: configuration.maxReplayEvents, resumeInterval: configuration.resumeInterval,
            maxHeldBytes: configuration.outboundBufferBytes, expiresAt: acceptance.expiresAt,
            tokenLeeway: .seconds(Int64(configuration.authentication.leewaySeconds)), upstream: configuration.upstream)
        return Session(
            identity: acceptance.identity, settings: settings, shard: shard, broker: broker, encodings: fanOut.encodings, upstream: upstream,
            presence: presence, metrics: metrics, logger: logger, eventLoop: eventLoop, tokens: tokens)
    }
}
