import NIOCore

/// The packet inside a pre-encoded server WebSocket text frame (``WebSocketTextFrame``): a
/// polling client is sent the same bytes a WebSocket client is, past the frame header, without
/// a copy.
enum SocketIOFrame {
    static func packet(in frame: ByteBuffer) -> ByteBuffer {
        guard let length = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) else { return frame }
        let header: Int
        switch length & 0x7F {
        case 126: header = 4
        case 127: header = 10
        default: header = 2
        }
        return frame.getSlice(at: frame.readerIndex + header, length: frame.readableBytes - header) ?? frame
    }
}
