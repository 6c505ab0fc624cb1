import HeraldProtocol
import NIOCore
import NIOHTTP1
import Testing

@testable import EdgeNode

/// SSE events as chunks, and what an SSE request asks for.
@Suite("Server-sent events framing")
struct ServerSentEventsFrameTests {
    /// The body of one chunk.
    private func unchunk(_ chunk: ByteBuffer) throws -> String {
        let bytes = Array(chunk.readableBytesView)
        let lineEnd = try #require(bytes.firstIndex(of: UInt8(ascii: "\r")))
        let length = try #require(Int(String(decoding: bytes[..<lineEnd], as: UTF8.self), radix: 16))
        #expect(Array(bytes[lineEnd...].prefix(2)) == Array("\r\n".utf8))
        #expect(Array(bytes.suffix(2)) == Array("\r\n".utf8))
        #expect(bytes.count == lineEnd + 2 + length + 2)
        return String(decoding: bytes[(lineEnd + 2)..<(bytes.count - 2)], as: UTF8.self)
    }

    @Test("an event is one chunk: id, then the payload as data lines")
    func event() throws {
        let allocator = ByteBufferAllocator()
        let frame = ServerSentEventsFrame.event(Array(#"{"type":"x"}"#.utf8), id: "e:1-0", allocator: allocator)
        #expect(try unchunk(frame) == "id: e:1-0\ndata: {\"type\":\"x\"}\n\n")
        // Line breaks (JSON whitespace) start new data lines; the browser joins them with \n.
        let multiline = ServerSentEventsFrame.event(Array("{\r\n\"a\":1,\r\"b\":2\n}".utf8), name: "close", allocator: allocator)
        #expect(try unchunk(multiline) == "event: close\ndata: {\ndata: \"a\":1,\ndata: \"b\":2\ndata: }\n\n")
        #expect(try unchunk(ServerSentEventsFrame.comment("ping", allocator: allocator)) == ": ping\n\n")
        #expect(try unchunk(ServerSentEventsFrame.retry(milliseconds: 1500, allocator: allocator)) == "retry: 1500\n\n")
    }

    @Test("the registered encoding carries the event's offset as its id")
    func encoding() throws {
        let offset = try #require(StreamOffset("e1:5-2"))
        let frame = FrameEncodings.serverSentEvents.encode(ByteBuffer(string: #"{"offset":"e1:5-2","type":"x"}"#), offset, ByteBufferAllocator())
        #expect(try unchunk(frame) == "id: e1:5-2\ndata: {\"offset\":\"e1:5-2\",\"type\":\"x\"}\n\n")
    }

    @Test("Last-Event-ID wins over ?since=; the token may be in the query or Authorization")
    func request() {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/sse?token=q&since=e:1-0&channels=a,b")
        #expect(ServerSentEventsRequest(head).since == "e:1-0")
        #expect(ServerSentEventsRequest(head).channels == ["a", "b"])
        head.headers.add(name: "last-event-id", value: "e:7-0")
        head.headers.add(name: "authorization", value: "Bearer h")
        #expect(ServerSentEventsRequest(head).since == "e:7-0")
        #expect(ServerSentEventsRequest(head).token == "q")
        head.uri = "/sse/messages?connection_id=n-1"
        #expect(ServerSentEventsRequest(head).token == "h")
        #expect(ServerSentEventsRequest(head).connectionID == "n-1")
    }

    @Test("retry jitter stays between one and three times the base")
    func retryJitter() {
        let settings = ServerSentEventsTransport.Settings(heartbeat: .seconds(30), retry: .seconds(1), replyTimeout: .seconds(5), maxPendingReplies: 16)
        for _ in 0..<100 { #expect((1000...3000).contains(settings.jitteredRetryMilliseconds())) }
    }
}
