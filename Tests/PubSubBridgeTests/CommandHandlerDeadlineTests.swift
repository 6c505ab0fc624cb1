import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import PubSubBridge

/// ``RedisCommandHandler``'s deadlines and keepalives on an `EmbeddedChannel`, whose event loop time the test advances.
@Suite("Command deadlines and keepalives without sockets")
struct CommandHandlerDeadlineTests {
    private func makeChannel(timeout: Int64 = 2000, keepalive: Int64? = 1000, maxPending: Int = 100) throws -> EmbeddedChannel {
        var configuration = RedisConfiguration()
        configuration.commandTimeout = .milliseconds(timeout)
        configuration.keepaliveInterval = keepalive.map { .milliseconds($0) }
        configuration.maxPendingCommands = maxPending
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(
            RedisReplyDecoder(),
            RedisCommandHandler(configuration: configuration, logger: Logger(label: "test"))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return channel
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var bytes = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) {
            bytes.writeBuffer(&chunk)
        }
        return String(buffer: bytes)
    }

    private func send(_ channel: EmbeddedChannel, _ arguments: String...) throws -> EventLoopFuture<RESPValue> {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        try channel.writeOutbound(RedisRequest.command(arguments.map { ByteBuffer(string: $0) }, promise))
        return promise.futureResult
    }

    @Test func aLateReplyFailsEverythingPendingWithATimeoutAndCloses() throws {
        let channel = try self.makeChannel()
        let handler = try channel.pipeline.syncOperations.handler(type: RedisCommandHandler.self)
        let loop = channel.embeddedEventLoop
        let first = try self.send(channel, "GET", "a")
        loop.advanceTime(by: .milliseconds(500))
        let second = try self.send(channel, "GET", "b")
        let recorder = Recorder<Result<RESPValue, Error>>()
        first.whenComplete { recorder.append($0) }
        second.whenComplete { recorder.append($0) }
        loop.advanceTime(by: .milliseconds(1499))
        #expect(recorder.count == 0)
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(recorder.count == 2)
        for result in recorder.values {
            #expect(throws: RedisError.self) { try result.get() }
            if case .failure(let error as RedisError) = result { #expect(error.isTimeout) }
        }
        #expect(!channel.isActive)
        #expect(handler.closeReason?.isTimeout == true)
    }

    @Test func anIdleConnectionSendsPingAndStaysOpenWhenAnswered() throws {
        let channel = try self.makeChannel()
        let loop = channel.embeddedEventLoop
        #expect(try self.written(channel) == "")
        loop.advanceTime(by: .milliseconds(999))
        #expect(try self.written(channel) == "")
        loop.advanceTime(by: .milliseconds(1))
        #expect(try self.written(channel) == "*1\r\n$4\r\nPING\r\n")
        loop.advanceTime(by: .milliseconds(300))
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        // The next PING one idle second after the answer, and so on while each is answered.
        for _ in 0..<5 {
            loop.advanceTime(by: .milliseconds(999))
            #expect(try self.written(channel) == "")
            loop.advanceTime(by: .milliseconds(1))
            #expect(try self.written(channel) == "*1\r\n$4\r\nPING\r\n")
            loop.advanceTime(by: .milliseconds(1900))
            try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
            #expect(channel.isActive)
        }
    }

    @Test func anUnansweredPingClosesTheConnectionThreeSecondsAfterTheLastReply() throws {
        let channel = try self.makeChannel()
        let loop = channel.embeddedEventLoop
        let command = try self.send(channel, "GET", "a")
        loop.advanceTime(by: .milliseconds(100))
        try channel.writeInbound(ByteBuffer(string: "$-1\r\n"))
        #expect(try command.wait() == .null)
        loop.advanceTime(by: .milliseconds(2999))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect(try self.written(channel).hasSuffix("*1\r\n$4\r\nPING\r\n"))
    }

    @Test func commandsBeyondTheBoundFailAtOnce() throws {
        let channel = try self.makeChannel(maxPending: 2)
        _ = try self.send(channel, "GET", "a")
        _ = try self.send(channel, "GET", "b")
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        _ = try? channel.writeOutbound(RedisRequest.command([ByteBuffer(string: "GET"), ByteBuffer(string: "c")], promise))
        #expect(throws: RedisError.tooManyPendingCommands(limit: 2)) { try promise.futureResult.wait() }
        #expect(channel.isActive)
    }

    @Test func aRefusedSubscribeReachesTheRefusalHandler() throws {
        let channel = try self.makeChannel()
        let handler = try channel.pipeline.syncOperations.handler(type: RedisCommandHandler.self)
        var refusals: [([String], RedisError)] = []
        var pushes: [RESPValue] = []
        handler.onPush = { pushes.append($0) }
        handler.onSubscriptionRefused = { refusals.append(($0, $1)) }
        try channel.writeOutbound(RedisRequest.subscription(["SUBSCRIBE", "herald:{ok}"].map { ByteBuffer(string: $0) }))
        try channel.writeOutbound(RedisRequest.subscription(["SUBSCRIBE", "herald:{no}"].map { ByteBuffer(string: $0) }))
        try channel.writeInbound(ByteBuffer(string: "*3\r\n$9\r\nsubscribe\r\n$11\r\nherald:{ok}\r\n:1\r\n-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"))
        #expect(pushes.count == 1)
        #expect(refusals.count == 1)
        #expect(refusals.first?.0 == ["herald:{no}"])
        #expect(refusals.first?.1.serverMessage?.hasPrefix("NOPERM") == true)
        #expect(channel.isActive)
    }
}
