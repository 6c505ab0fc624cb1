import HeraldProtocol
import NIOCore

/// Server-sent events as the bytes that go on the wire: each event a complete HTTP/1.1 chunk
/// (the stream is `transfer-encoding: chunked`), written below the HTTP encoder like WebSocket
/// frames are, so one event's bytes are built once per node and shared by every SSE client.
enum ServerSentEventsFrame {
    /// The chunk that ends the response body.
    static let lastChunk: StaticString = "0\r\n\r\n"

    /// One event: `id:` (a history offset, so the browser's `Last-Event-ID` is the client's
    /// place in history), optionally `event:`, then the payload as `data:` lines. A payload line
    /// break (JSON whitespace only: JSON strings cannot hold raw ones) starts a new `data:` line;
    /// the browser joins them with a line feed, so the JSON it parses is the same.
    static func event(
        _ payload: some Collection<UInt8>, id: String? = nil, name: String? = nil, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var body = allocator.buffer(capacity: payload.count + 64)
        if let id {
            body.writeStaticString("id: ")
            body.writeString(id)
            body.writeStaticString("\n")
        }
        if let name {
            body.writeStaticString("event: ")
            body.writeString(name)
            body.writeStaticString("\n")
        }
        body.writeStaticString("data: ")
        // Copied in runs between line breaks (most payloads are one run).
        var rest = payload[...]
        while let lineBreak = rest.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            body.writeBytes(rest[..<lineBreak])
            body.writeStaticString("\ndata: ")
            var next = rest.index(after: lineBreak)
            if rest[lineBreak] == UInt8(ascii: "\r"), next != rest.endIndex, rest[next] == UInt8(ascii: "\n") {
                next = rest.index(after: next)  // CRLF is one break
            }
            rest = rest[next...]
        }
        body.writeBytes(rest)
        body.writeStaticString("\n\n")
        return chunk(body, allocator: allocator)
    }

    /// A comment line (`: ping`), which clients ignore: the heartbeat.
    static func comment(_ text: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var body = allocator.buffer(capacity: text.utf8.count + 4)
        body.writeStaticString(": ")
        body.writeString(text)
        body.writeStaticString("\n\n")
        return chunk(body, allocator: allocator)
    }

    /// The reconnection delay the browser's `EventSource` waits before it reconnects.
    static func retry(milliseconds: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var body = allocator.buffer(capacity: 24)
        body.writeString("retry: \(milliseconds)\n\n")
        return chunk(body, allocator: allocator)
    }

    /// `body` as one chunk: its length in hex, CRLF, the bytes, CRLF.
    static func chunk(_ body: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = String(body.readableBytes, radix: 16)
        var chunk = allocator.buffer(capacity: body.readableBytes + length.utf8.count + 4)
        chunk.writeString(length)
        chunk.writeStaticString("\r\n")
        chunk.writeImmutableBuffer(body)
        chunk.writeStaticString("\r\n")
        return chunk
    }
}

extension FrameEncodings {
    /// SSE: one `text/event-stream` event as a complete chunk, with the event's offset as `id:`.
    static let serverSentEvents = Encoding(name: "sse") { payload, offset, allocator in
        ServerSentEventsFrame.event(payload.readableBytesView, id: offset?.description, allocator: allocator)
    }
}
