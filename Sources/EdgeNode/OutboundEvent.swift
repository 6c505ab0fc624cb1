import HeraldBroker
import HeraldProtocol
import NIOCore

/// An event ready for local delivery: framed once, with the routing read once.
struct OutboundEvent: Sendable {
    /// The complete WebSocket text frame; the same bytes go to every recipient.
    var frame: ByteBuffer
    var routing: EventRouting
    /// The history offset, for deduplication at the seam of a client's replay.
    var offset: StreamOffset?
}
