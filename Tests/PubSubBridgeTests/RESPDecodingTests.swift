import NIOCore
import NIOEmbedded
import Testing

@testable import PubSubBridge

@Suite("RESP reply decoding with hiredis")
struct RESPDecodingTests {
    private static let stream =
        "+OK\r\n" + ":-42\r\n" + "$12\r\nhello\r\nworld\r\n" + "$0\r\n\r\n" + "$-1\r\n" + "*-1\r\n"
        + "-ERR wrong number of arguments\r\n" + "*0\r\n"
        + "*3\r\n:1\r\n*2\r\n$1\r\na\r\n*1\r\n$-1\r\n+inner\r\n"

    private static let expected: [RESPValue] = [
        .simpleString("OK"),
        .integer(-42),
        .bulkString(ByteBuffer(string: "hello\r\nworld")),
        .bulkString(ByteBuffer()),
        .null,
        .null,
        .error("ERR wrong number of arguments"),
        .array([]),
        .array([.integer(1), .array([.bulkString(ByteBuffer(string: "a")), .array([.null])]), .simpleString("inner")]),
    ]

    private func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(RedisReplyDecoder())
        return channel
    }

    private func readAll(_ channel: EmbeddedChannel) throws -> [RESPValue] {
        var replies: [RESPValue] = []
        while let reply = try channel.readInbound(as: RESPValue.self) {
            replies.append(reply)
        }
        return replies
    }

    @Test func wholeStreamAtOnce() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(ByteBuffer(string: Self.stream))
        #expect(try self.readAll(channel) == Self.expected)
        #expect(try channel.finish().isClean)
    }

    @Test func byteByByte() throws {
        let channel = try self.makeChannel()
        var replies: [RESPValue] = []
        for byte in Self.stream.utf8 {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            replies += try self.readAll(channel)
        }
        #expect(replies == Self.expected)
    }

    @Test(arguments: [2, 3, 5, 7, 13])
    func irregularSplits(chunkSize: Int) throws {
        let channel = try self.makeChannel()
        let bytes = Array(Self.stream.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunkSize) {
            try channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + chunkSize, bytes.count)]))
        }
        #expect(try self.readAll(channel) == Self.expected)
    }

    @Test func binaryBulkStringIsExact() throws {
        let channel = try self.makeChannel()
        let payload = (0...255).map { UInt8($0) } + Array("\r\n$5\r\n".utf8)
        var wire = ByteBuffer(string: "$\(payload.count)\r\n")
        wire.writeBytes(payload)
        wire.writeString("\r\n")
        try channel.writeInbound(wire)
        #expect(try channel.readInbound(as: RESPValue.self) == .bulkString(ByteBuffer(bytes: payload)))
    }

    @Test func largeBulkStringInSmallReads() throws {
        let channel = try self.makeChannel()
        let payload = (0..<100 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var wire = ByteBuffer(string: "$\(payload.count)\r\n")
        wire.writeBytes(payload)
        wire.writeString("\r\n")
        while wire.readableBytes > 0 {
            try channel.writeInbound(wire.readSlice(length: min(1500, wire.readableBytes))!)
        }
        #expect(try channel.readInbound(as: RESPValue.self) == .bulkString(ByteBuffer(bytes: payload)))
    }

    @Test func protocolErrorClosesTheChannel() throws {
        let channel = try self.makeChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        #expect(channel.isActive)
        #expect {
            try channel.writeInbound(ByteBuffer(string: "!not resp\r\n"))
        } throws: { error in
            "\(error)".contains("protocol error")
        }
        #expect(!channel.isActive)
    }

    @Test func readerReportsIncompleteAsNil() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "*2\r\n$3\r\nfoo\r\n"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: ":7\r\n"))
        #expect(try reader.next() == .array([.bulkString(ByteBuffer(string: "foo")), .integer(7)]))
        #expect(try reader.next() == nil)
    }

    @Test func valueAccessors() {
        #expect(RESPValue.bulkString(ByteBuffer(string: "12")).int == 12)
        #expect(RESPValue.integer(5).int == 5)
        #expect(RESPValue.simpleString("OK").string == "OK")
        #expect(RESPValue.bulkString(ByteBuffer(string: "x")).string == "x")
        #expect(RESPValue.null.string == nil)
        #expect(RESPValue.null.isNull)
        #expect(RESPValue.array([.integer(1)]).array == [.integer(1)])
        #expect(RESPValue.error("ERR x").string == nil)
    }
}
