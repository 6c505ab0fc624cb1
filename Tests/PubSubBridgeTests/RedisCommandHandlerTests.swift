import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import PubSubBridge

@Suite("Command formatting and pipelining without sockets")
struct RedisCommandHandlerTests {
    private func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(
            RedisReplyDecoder(),
            RedisCommandHandler(logger: Logger(label: "test"))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return channel
    }

    @Test func formatsCommandWithHiredis() {
        let bytes = RESPCommandEncoder.encode(["SET", "key", "value"].map { ByteBuffer(string: $0) })
        #expect(String(buffer: bytes) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
    }

    @Test func formatsBinaryAndEmptyArguments() {
        let binary: [UInt8] = [0, 13, 10, 255]
        let bytes = RESPCommandEncoder.encode([ByteBuffer(string: "PUBLISH"), ByteBuffer(), ByteBuffer(bytes: binary)])
        var expected = ByteBuffer(string: "*3\r\n$7\r\nPUBLISH\r\n$0\r\n\r\n$4\r\n")
        expected.writeBytes(binary)
        expected.writeString("\r\n")
        #expect(bytes == expected)
    }

    @Test func pipelinedRepliesCompleteInOrder() throws {
        let channel = try self.makeChannel()
        let promises = (0..<3).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        for (index, promise) in promises.enumerated() {
            try channel.writeOutbound(RedisRequest.command([ByteBuffer(string: "INCR"), ByteBuffer(string: "k\(index)")], promise))
        }
        var written = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            written.writeBuffer(&chunk)
        }
        #expect(String(buffer: written) == "*2\r\n$4\r\nINCR\r\n$2\r\nk0\r\n*2\r\n$4\r\nINCR\r\n$2\r\nk1\r\n*2\r\n$4\r\nINCR\r\n$2\r\nk2\r\n")

        let recorder = Recorder<Result<RESPValue, Error>>()
        for promise in promises {
            promise.futureResult.whenComplete { recorder.append($0) }
        }
        try channel.writeInbound(ByteBuffer(string: ":1\r\n-WRONGTYPE no"))
        #expect(recorder.count == 1)
        try channel.writeInbound(ByteBuffer(string: "t an integer\r\n:3\r\n"))
        let results = recorder.values
        #expect(results.count == 3)
        #expect(try results[0].get() == .integer(1))
        #expect(throws: RedisError.serverError("WRONGTYPE not an integer")) { try results[1].get() }
        #expect(try results[2].get() == .integer(3))
    }

    @Test func closeFailsPendingCommands() throws {
        let channel = try self.makeChannel()
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        try channel.writeOutbound(RedisRequest.command([ByteBuffer(string: "PING")], promise))
        try channel.close().wait()
        #expect(throws: RedisError.connectionClosed) { try promise.futureResult.wait() }
    }

    @Test func unexpectedReplyClosesConnection() throws {
        let channel = try self.makeChannel()
        #expect(throws: RedisError.self) { try channel.writeInbound(ByteBuffer(string: "+OK\r\n")) }
        #expect(!channel.isActive)
    }

    @Test func subscriptionRepliesGoToPushHandler() throws {
        let channel = try self.makeChannel()
        let handler = try channel.pipeline.syncOperations.handler(type: RedisCommandHandler.self)
        var pushes: [RESPValue] = []
        handler.onPush = { pushes.append($0) }
        try channel.writeOutbound(RedisRequest.subscription([ByteBuffer(string: "SUBSCRIBE"), ByteBuffer(string: "a")]))
        try channel.writeInbound(ByteBuffer(string: "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"))
        #expect(pushes.count == 2)
        #expect(RedisPubSubPush(pushes[0]) == .subscribed(channel: "a", count: 1))
        #expect(RedisPubSubPush(pushes[1]) == .message(channel: "a", payload: ByteBuffer(string: "hi")))

        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        _ = try? channel.writeOutbound(RedisRequest.command([ByteBuffer(string: "GET"), ByteBuffer(string: "k")], promise))
        #expect(throws: RedisError.unsupportedInSubscriptionMode) { try promise.futureResult.wait() }
    }
}
