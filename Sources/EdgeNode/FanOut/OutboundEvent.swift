import HeraldBroker
import HeraldProtocol
import NIOCore
import Presence

/// An event ready for local delivery: its routing read once, and framed once per transport.
struct OutboundEvent: Sendable {
    /// The event encoded for each registered transport with sessions on the node
    /// (``FrameEncodings``); the same bytes go to every recipient of that transport.
    var frames: [ByteBuffer?]
    /// The payload itself, for a recipient whose transport had no sessions when the event was
    /// encoded (it started meanwhile) and encodes this one event itself.
    var payload: ByteBuffer
    var routing: EventRouting
    /// The history offset, for deduplication at the seam of a client's replay.
    var offset: StreamOffset?
    /// The event's size in bytes, counted against a connection's holding limit during a replay.
    var size: Int

    func frame(for encoding: FrameEncodings.Index) -> ByteBuffer? { frames[encoding.rawValue] }
}

/// A connection as the fan-out sees it: who it is, what it subscribed to, and a way to hand it
/// events. The shard holds recipients; a ``Session`` is one, whatever its transport.
protocol EventRecipient: AnyObject {
    var identity: ClientIdentity { get }
    /// The connection's id (its `connection_id`), which a reply targets.
    var connectionID: String { get }
    /// Sub-channels joined, as the shard indexes them.
    var subscribedChannels: Set<String> { get }
    func isSubscribed(to channel: String) -> Bool
    /// When the client last sent anything (the idle sweep closes silent ones).
    var lastActivity: NIODeadline { get }
    /// When its token runs out, leeway included (the sweep closes it then); nil: never.
    var expiresAt: NIODeadline? { get }
    /// The connection in presence.
    var presenceMember: PresenceMember { get }
    /// Takes an event; false when the connection did not (closed, or closed now for being slow).
    func write(_ event: OutboundEvent) -> Bool
    /// Flushes what ``write(_:)`` queued since the last flush.
    func flush()
    func close(code: CloseCode, reason: String)
    /// Closes the connection because its token ran out (4003).
    func closeExpired()
}
