import Atomics
import HeraldProtocol
import NIOCore

/// How each transport frames an event, registered once per node: the fan-out encodes every event
/// once per transport in use on the node and every recipient of that transport writes the same
/// bytes, never encoding per recipient.
///
/// "In use" is counted: a session holds its transport's encoding from its start to its end
/// (``retain(_:)``/``release(_:)``), and an encoding nobody holds is skipped, so a node serving
/// only WebSocket clients pays nothing for SSE or Socket.IO. A session that starts while an event
/// skipped for its transport is on its way encodes that one event itself (``OutboundEvent/payload``).
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
    /// Sessions on this node holding each encoding.
    private var users: [ManagedAtomic<Int>] = []

    /// Registers `encoding`; the returned index picks its frame out of every event.
    mutating func register(_ encoding: Encoding) -> Index {
        encodings.append(encoding)
        users.append(ManagedAtomic(0))
        return Index(rawValue: encodings.count - 1)
    }

    /// A session of this encoding's transport started: events are encoded for it from now on.
    func retain(_ index: Index) {
        users[index.rawValue].wrappingIncrement(ordering: .relaxed)
    }

    func release(_ index: Index) {
        users[index.rawValue].wrappingDecrement(ordering: .relaxed)
    }

    /// The event encoded for every registered transport that has sessions (nil for the others).
    func encode(_ payload: ByteBuffer, offset: StreamOffset?, allocator: ByteBufferAllocator) -> [ByteBuffer?] {
        zip(encodings, users).map { encoding, users in
            users.load(ordering: .relaxed) > 0 ? encoding.encode(payload, offset, allocator) : nil
        }
    }

    /// WebSocket: one complete text frame, written below the frame encoder.
    static let webSocket = Encoding(name: "websocket") { payload, _, allocator in
        WebSocketTextFrame.encode(payload, allocator: allocator)
    }
}
