import HeraldTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import PubSubBridge

/// Settings that keep reconnect tests fast.
func testConfiguration(_ server: RedisServerProcess) throws -> RedisConfiguration {
    var configuration = try RedisConfiguration(url: server.url)
    configuration.connectTimeout = .seconds(2)
    configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
    return configuration
}

let testLogger: Logger = {
    var logger = Logger(label: "herald.pubsub.test")
    logger.logLevel = .warning
    return logger
}()

@Suite("RedisConnection against redis-server", .serialized, .timeLimit(.minutes(1)))
struct RedisConnectionIntegrationTests {
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    @Test func thousandPipelinedCommandsReplyInOrder() async throws {
        let server = try await RedisServerProcess.start()
        let connection = try await RedisConnection.connect(
            configuration: try testConfiguration(server), eventLoop: self.eventLoop, logger: testLogger
        ).get(within: .seconds(5))
        let replies = (0..<1000).map { _ in connection.send("INCR", "counter") }
        let values = try await EventLoopFuture.whenAllSucceed(replies, on: self.eventLoop).get(within: .seconds(10))
        #expect(values == (1...1000).map { RESPValue.integer(Int64($0)) })
        try await connection.close().get(within: .seconds(5))
    }

    @Test func errorReplyFailsOnlyThatCommand() async throws {
        let server = try await RedisServerProcess.start()
        let connection = try await RedisConnection.connect(
            configuration: try testConfiguration(server), eventLoop: self.eventLoop, logger: testLogger
        ).get(within: .seconds(5))
        _ = try await connection.send("SET", "text", "abc").get(within: .seconds(5))
        await #expect {
            try await connection.send("INCR", "text").get(within: .seconds(5))
        } throws: { error in
            (error as? RedisError)?.serverMessage?.hasPrefix("ERR value is not an integer") == true
        }
        #expect(try await connection.send("GET", "text").get(within: .seconds(5)).string == "abc")
        #expect(try await connection.send("GET", "missing").get(within: .seconds(5)) == .null)
        try await connection.close().get(within: .seconds(5))
    }

    @Test func authenticatesWithPassword() async throws {
        let server = try await RedisServerProcess.start(extraArguments: ["--requirepass", "p@ss:w/rd"])
        let configuration = try RedisConfiguration(url: "redis://:p%40ss%3Aw%2Frd@127.0.0.1:\(server.port)")
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoop: self.eventLoop, logger: testLogger
        ).get(within: .seconds(5))
        #expect(try await connection.send("PING").get(within: .seconds(5)) == .simpleString("PONG"))
        try await connection.close().get(within: .seconds(5))

        let withUser = try RedisConfiguration(url: "redis://default:p%40ss%3Aw%2Frd@127.0.0.1:\(server.port)")
        let userConnection = try await RedisConnection.connect(
            configuration: withUser, eventLoop: self.eventLoop, logger: testLogger
        ).get(within: .seconds(5))
        #expect(try await userConnection.send("PING").get(within: .seconds(5)) == .simpleString("PONG"))
        try await userConnection.close().get(within: .seconds(5))
    }

    @Test func wrongPasswordFailsClearly() async throws {
        let server = try await RedisServerProcess.start(extraArguments: ["--requirepass", "right"])
        let configuration = try RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(server.port)")
        await #expect {
            try await RedisConnection.connect(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
                .get(within: .seconds(5))
        } throws: { error in
            let description = "\(error)"
            return description.contains("rejected the credentials") && description.contains("WRONGPASS")
        }
    }

    @Test func selectsDatabase() async throws {
        let server = try await RedisServerProcess.start()
        var configuration = try testConfiguration(server)
        configuration.database = 3
        let db3 = try await RedisConnection.connect(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
            .get(within: .seconds(5))
        let db0 = try await RedisConnection.connect(
            configuration: try testConfiguration(server), eventLoop: self.eventLoop, logger: testLogger
        ).get(within: .seconds(5))
        _ = try await db3.send("SET", "where", "three").get(within: .seconds(5))
        #expect(try await db3.send("GET", "where").get(within: .seconds(5)).string == "three")
        #expect(try await db0.send("GET", "where").get(within: .seconds(5)) == .null)
        _ = try await db0.send("SELECT", "3").get(within: .seconds(5))
        #expect(try await db0.send("GET", "where").get(within: .seconds(5)).string == "three")
        try await db3.close().get(within: .seconds(5))
        try await db0.close().get(within: .seconds(5))
    }

    @Test func connectionRefusedFailsWithConnectionError() async throws {
        let server = try await RedisServerProcess.start()
        let configuration = try testConfiguration(server)
        server.stop()
        await #expect {
            try await RedisConnection.connect(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
                .get(within: .seconds(5))
        } throws: { error in
            "\(error)".contains("Could not connect to Redis")
        }
    }
}

@Suite("RedisSubscriber and RedisCommandClient against redis-server", .serialized, .timeLimit(.minutes(1)))
struct RedisSubscriberIntegrationTests {
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    struct Message: Sendable, Equatable {
        var channel: String
        var payload: ByteBuffer
    }

    /// A subscriber and a command client on one server, recording what the subscriber sees.
    final class Fixture: Sendable {
        let server: RedisServerProcess
        let subscriber: RedisSubscriber
        let client: RedisCommandClient
        let messages = Recorder<Message>()
        let states = Recorder<Bool>()

        init(server: RedisServerProcess, eventLoop: EventLoop, linger: TimeAmount) throws {
            self.server = server
            let configuration = try testConfiguration(server)
            let messages = self.messages
            let states = self.states
            self.subscriber = RedisSubscriber(
                configuration: configuration,
                eventLoop: eventLoop,
                logger: testLogger,
                linger: linger,
                onMessage: { channel, payload in
                    eventLoop.preconditionInEventLoop()
                    messages.append(Message(channel: channel, payload: payload))
                },
                onConnectionStateChange: { connected in
                    eventLoop.preconditionInEventLoop()
                    states.append(connected)
                }
            )
            self.client = RedisCommandClient(configuration: configuration, eventLoop: eventLoop, logger: testLogger)
            self.subscriber.start()
            self.client.start()
        }

        static func start(eventLoop: EventLoop, linger: TimeAmount = .milliseconds(300)) async throws -> Fixture {
            let fixture = try Fixture(server: try await RedisServerProcess.start(), eventLoop: eventLoop, linger: linger)
            try await waitUntil("subscriber and client connect") {
                fixture.subscriber.isConnected && fixture.client.isConnected
            }
            return fixture
        }

        func numberOfSubscribers(_ channel: String) async throws -> Int64 {
            let reply = try await self.client.send("PUBSUB", "NUMSUB", channel).get(within: .seconds(5))
            return reply.array?.last?.int ?? -1
        }

        func shutdown() async throws {
            try await self.subscriber.shutdown().get(within: .seconds(5))
            try await self.client.shutdown().get(within: .seconds(5))
            self.server.stop()
        }
    }

    @Test func publishedBytesArriveExactlyAndInOrder() async throws {
        let fixture = try await Fixture.start(eventLoop: self.eventLoop)
        fixture.subscriber.retain(channel: "herald:{42}")
        try await waitUntil("the channel is subscribed") {
            fixture.subscriber.subscribedChannels == ["herald:{42}"]
        }

        let payloads = [
            ByteBuffer(string: #"{"type":"message.new","data":{"id":1}}"#),
            ByteBuffer(bytes: (0...255).map { UInt8($0) } + Array("\r\n*1\r\n".utf8)),
            ByteBuffer(bytes: (0..<100 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }),
            ByteBuffer(),
        ]
        for payload in payloads {
            let receivers = try await fixture.client.publish(channel: "herald:{42}", message: payload).get(within: .seconds(5))
            #expect(receivers == 1)
        }
        _ = try await fixture.client.publish(channel: "herald:{other}", message: ByteBuffer(string: "not for us"))
            .get(within: .seconds(5))
        try await waitUntil("all messages arrive") { fixture.messages.count >= payloads.count }
        #expect(fixture.messages.values == payloads.map { Message(channel: "herald:{42}", payload: $0) })
        #expect(fixture.states.values == [true])
        try await fixture.shutdown()
        #expect(fixture.states.values == [true, false])
    }

    @Test func releaseUnsubscribesAfterLinger() async throws {
        let fixture = try await Fixture.start(eventLoop: self.eventLoop, linger: .milliseconds(300))
        fixture.subscriber.retain(channel: "a")
        fixture.subscriber.retain(channel: "a")
        try await waitUntil("a is subscribed") { try await fixture.numberOfSubscribers("a") == 1 }

        fixture.subscriber.release(channel: "a")
        fixture.subscriber.release(channel: "a")
        #expect(try await fixture.numberOfSubscribers("a") == 1, "still subscribed while lingering")
        try await waitUntil("a is unsubscribed after the linger") {
            try await fixture.numberOfSubscribers("a") == 0 && fixture.subscriber.subscribedChannels.isEmpty
        }
        let channels = try await fixture.client.send("PUBSUB", "CHANNELS").get(within: .seconds(5))
        #expect(channels == .array([]))
        try await fixture.shutdown()
    }

    @Test func retainDuringLingerKeepsTheSubscription() async throws {
        let fixture = try await Fixture.start(eventLoop: self.eventLoop, linger: .milliseconds(300))
        fixture.subscriber.retain(channel: "b")
        try await waitUntil("b is subscribed") { fixture.subscriber.subscribedChannels.contains("b") }
        fixture.subscriber.release(channel: "b")
        try await Task.sleep(for: .milliseconds(100))
        fixture.subscriber.retain(channel: "b")
        try await Task.sleep(for: .milliseconds(700))
        #expect(try await fixture.numberOfSubscribers("b") == 1)
        #expect(fixture.subscriber.subscribedChannels == ["b"])
        try await fixture.shutdown()
    }

    @Test func resubscribesAfterClientKill() async throws {
        let fixture = try await Fixture.start(eventLoop: self.eventLoop)
        let channels = (0..<1500).map { "bulk:\($0)" } + ["news"]
        for channel in channels {
            fixture.subscriber.retain(channel: channel)
        }
        try await waitUntil("all channels are subscribed") { fixture.subscriber.subscribedChannels.count == channels.count }

        let killed = try await fixture.client.send("CLIENT", "KILL", "TYPE", "pubsub").get(within: .seconds(5))
        #expect(killed == .integer(1))
        try await waitUntil("the subscriber notices and reconnects") {
            fixture.states.values == [true, false, true] && fixture.subscriber.subscribedChannels.count == channels.count
        }
        #expect(try await fixture.numberOfSubscribers("news") == 1)
        #expect(try await fixture.numberOfSubscribers("bulk:1499") == 1)

        _ = try await fixture.client.publish(channel: "news", message: ByteBuffer(string: "after kill")).get(within: .seconds(5))
        try await waitUntil("the message arrives") { fixture.messages.count == 1 }
        #expect(fixture.messages.values == [Message(channel: "news", payload: ByteBuffer(string: "after kill"))])
        try await fixture.shutdown()
    }

    @Test func survivesRedisRestartOnTheSamePort() async throws {
        let fixture = try await Fixture.start(eventLoop: self.eventLoop)
        fixture.subscriber.retain(channel: "news")
        try await waitUntil("news is subscribed") { fixture.subscriber.subscribedChannels == ["news"] }

        fixture.server.kill()
        try await waitUntil("both notice the outage") {
            !fixture.subscriber.isConnected && !fixture.client.isConnected
        }
        #expect(fixture.subscriber.subscribedChannels.isEmpty)
        await #expect(throws: RedisError.notConnected) {
            try await fixture.client.publish(channel: "news", message: ByteBuffer(string: "lost")).get(within: .seconds(1))
        }
        // Let a few reconnect attempts fail before Redis comes back.
        try await Task.sleep(for: .milliseconds(300))

        try await fixture.server.restart()
        try await waitUntil("both reconnect") {
            fixture.subscriber.isConnected && fixture.client.isConnected
        }
        #expect(fixture.subscriber.subscribedChannels == ["news"])
        let receivers = try await fixture.client.publish(channel: "news", message: ByteBuffer(string: "back")).get(within: .seconds(5))
        #expect(receivers == 1)
        try await waitUntil("the message arrives") { fixture.messages.count == 1 }
        #expect(fixture.messages.values == [Message(channel: "news", payload: ByteBuffer(string: "back"))])
        #expect(fixture.states.values == [true, false, true])
        try await fixture.shutdown()
    }

    @Test func commandClientFailsFastBeforeFirstConnectAndAfterShutdown() async throws {
        let server = try await RedisServerProcess.start()
        let configuration = try testConfiguration(server)
        server.stop()
        let client = RedisCommandClient(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
        client.start()
        await #expect(throws: RedisError.notConnected) {
            try await client.send("PING").get(within: .seconds(1))
        }
        try await client.shutdown().get(within: .seconds(5))
        await #expect(throws: RedisError.shutDown) {
            try await client.send("PING").get(within: .seconds(1))
        }
    }
}
