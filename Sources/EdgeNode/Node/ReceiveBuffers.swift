import NIOCore

/// How connections size their receive buffers. NIO keeps each channel's last receive buffer for
/// reuse and grows it to the largest read, never shrinking it, so a buffer grown by the HTTP
/// upgrade request (a browser's cookies and user agent easily pass 1 KiB) would stay with every
/// idle WebSocket for its whole life. Connections therefore read in small fixed chunks until their
/// first request shows what they are: a WebSocket keeps the small buffer (client messages are
/// small; a large one takes a few more reads), a plain HTTP connection (the API, SSE, polling)
/// switches to a buffer that grows with its bodies.
enum ReceiveBuffers {
    /// Every connection until its first plain HTTP request, and WebSockets for good.
    static let upgrading = FixedSizeRecvByteBufferAllocator(capacity: 512)
    /// Plain HTTP connections from their first request on.
    static let http = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
}
