import HeraldProtocol
import NIOCore

/// How each transport frames an event, registered once per node: the fan-out encodes every event
/// once per transport in use on the node and every recipient of that transport writes the same
/// bytes, never encoding per recipient.
struct FrameEncodings: Sendable {
    /// A registered encoding's position in an event's frames.
    struct Index: Hashable, Sendable {
        let rawValue: Int
    }

    /// One transport's framing of an event payload (which carries its `offset` when it has one).
    struct Encoding: Sendable {
        var name: String
        var encode: @Sendable (_ payload: ByteBuffer, _ offset: StreamOffset?, _ allocator: ByteBufferAllocator) -> ByteBuffer
    }

    private(set) var encodings: [Encoding] = []

    /// Registers `encoding`; the returned index picks its frame out of every event.
    mutating func register(_ encoding: Encoding) -> Index {
        encodings.append(encoding)
        return Index(rawValue: encodings.count - 1)
    }

    /// The event encoded for every registered transport.
    func encode(_ payload: ByteBuffer, offset: StreamOffset?, allocator: ByteBufferAllocator) -> [ByteBuffer] {
        encodings.map { $0.encode(payload, offset, allocator) }
    }

    /// WebSocket: one complete text frame, written below the frame encoder.
    static let webSocket = Encoding(name: "websocket") { payload, _, allocator in
        WebSocketTextFrame.encode(payload, allocator: allocator)
    }
}
