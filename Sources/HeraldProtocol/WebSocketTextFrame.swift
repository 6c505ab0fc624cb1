import NIOCore

/// Builds a complete, unmasked server-to-client WebSocket text frame (header and payload) once,
/// so fan-out can write the same bytes to every recipient without re-encoding.
public enum WebSocketTextFrame {
    /// Returns `payload` framed as a single final text frame (RFC 6455 §5.2, no mask).
    public static func encode(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = allocator.buffer(capacity: length + 10)
        frame.writeInteger(UInt8(0x81))  // FIN + text opcode
        switch length {
        case ..<126:
            frame.writeInteger(UInt8(length))
        case ..<65536:
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        default:
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeImmutableBuffer(payload)
        return frame
    }
}
