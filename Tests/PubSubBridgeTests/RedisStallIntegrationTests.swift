import HeraldTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import PubSubBridge

/// A Redis that stops answering — `CLIENT PAUSE`, SIGSTOP — and a SUBSCRIBE refused by an ACL, against a real
/// redis-server: every command fails on time, idle connections notice, and nothing hangs or goes silently deaf.
@Suite("Redis stalls and refusals against redis-server", .serialized, .timeLimit(.minutes(2)))
struct RedisStallIntegrationTests {
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    private func configuration(_ server: RedisServerProcess, timeout: Int64 = 2000, keepalive: Int64? = 1000) throws -> RedisConfiguration {
        var configuration = try testConfiguration(server)
        configuration.commandTimeout = .milliseconds(timeout)
        configuration.keepaliveInterval = keepalive.map { .milliseconds($0) }
        return configuration
    }

    private func report(_ line: String) {
        var logger = Logger(label: "herald.stall.test")
        logger.logLevel = .notice
        logger.notice("\(line)")
    }

    @Test func aCommandPastItsDeadlineFailsAndTheClientReconnects() async throws {
        let server = try await RedisServerProcess.start()
        let client = RedisCommandClient(configuration: try self.configuration(server, timeout: 500, keepalive: 250), eventLoop: self.eventLoop, logger: testLogger)
        client.start()
        try await waitUntil("the client connects") { client.isConnected }

        try server.pauseClients(milliseconds: 2000)
        let clock = ContinuousClock()
        let started = clock.now
        let pending = (0..<3).map { _ in client.send("INCR", "n") }
        for future in pending {
            await #expect {
                try await future.get(within: .seconds(5))
            } throws: { error in
                (error as? RedisError)?.isTimeout == true
            }
        }
        let failedAfter = clock.now - started
        self.report("CLIENT PAUSE: a command failed with a timeout after \(failedAfter) (deadline 500 ms)")
        #expect(failedAfter < .milliseconds(1500))
        #expect(!client.isConnected)
        #expect(client.problem?.contains("Timed out") == true)
        await #expect(throws: RedisError.notConnected) { try await client.send("PING").get(within: .seconds(1)) }

        try await waitUntil("the client reconnects after the pause", timeout: .seconds(15)) { client.isConnected }
        #expect(try await client.send("PING").get(within: .seconds(2)) == .simpleString("PONG"))
        #expect(client.problem == nil)
        try await client.shutdown().get(within: .seconds(5))
        server.stop()
    }

    @Test func idleConnectionsNoticeASuspendedRedisWithinThreeSeconds() async throws {
        let server = try await RedisServerProcess.start()
        let configuration = try self.configuration(server)
        let client = RedisCommandClient(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
        let messages = Recorder<String>()
        let states = Recorder<Bool>()
        let subscriber = RedisSubscriber(
            configuration: configuration, eventLoop: self.eventLoop, logger: testLogger,
            onMessage: { _, payload in messages.append(String(buffer: payload)) },
            onConnectionStateChange: { states.append($0) }
        )
        client.start()
        subscriber.start()
        subscriber.retain(channel: "herald:{1}")
        try await waitUntil("both connect") {
            client.isConnected && subscriber.isConnected && subscriber.subscribedChannels == ["herald:{1}"]
        }

        server.suspend()
        let clock = ContinuousClock()
        let started = clock.now
        var subscriberLost: Duration?
        var clientLost: Duration?
        while clock.now - started < .seconds(8), subscriberLost == nil || clientLost == nil {
            if subscriberLost == nil, !subscriber.isConnected { subscriberLost = clock.now - started }
            if clientLost == nil, !client.isConnected { clientLost = clock.now - started }
            try await Task.sleep(for: .milliseconds(10))
        }
        self.report("SIGSTOP: idle subscriber noticed after \(subscriberLost.map { "\($0)" } ?? "never"), idle command connection after \(clientLost.map { "\($0)" } ?? "never") (keepalive 1 s + deadline 2 s)")
        // About 3 s (keepalive 1 s + deadline 2 s); the margin absorbs a loaded 2-core machine.
        let limit = Duration.milliseconds(4500)
        #expect(subscriberLost.map { $0 <= limit } == true)
        #expect(clientLost.map { $0 <= limit } == true)
        #expect(subscriber.problem?.contains("PING") == true)

        server.resume()
        try await waitUntil("both reconnect after SIGCONT", timeout: .seconds(20)) {
            client.isConnected && subscriber.isConnected
        }
        #expect(states.values == [true, false, true])
        _ = try await client.send("PUBLISH", "herald:{1}", "after").get(within: .seconds(2))
        try await waitUntil("the resubscribed channel delivers") { messages.values == ["after"] }
        try await subscriber.shutdown().get(within: .seconds(5))
        try await client.shutdown().get(within: .seconds(5))
        server.stop()
    }

    @Test func connectingToASuspendedRedisTimesOut() async throws {
        let server = try await RedisServerProcess.start()
        var configuration = try self.configuration(server)
        configuration.connectTimeout = .seconds(1)
        server.suspend()
        defer { server.resume() }
        let clock = ContinuousClock()
        let started = clock.now
        // The kernel completes the TCP handshake for a stopped process: only a round trip tells.
        await #expect {
            let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
                .get(within: .seconds(5))
            _ = try? await connection.close().get()
        } throws: { error in
            (error as? RedisError)?.isTimeout == true
        }
        #expect(clock.now - started < .seconds(3))
        server.resume()
        server.stop()
    }

    @Test func commandsBeyondThePendingBoundFailAtOnce() async throws {
        let server = try await RedisServerProcess.start()
        var configuration = try self.configuration(server)
        configuration.maxPendingCommands = 5
        let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: self.eventLoop, logger: testLogger)
            .get(within: .seconds(5))
        try server.pauseClients(milliseconds: 1000)
        let held = (0..<5).map { _ in connection.send("INCR", "n") }
        await #expect(throws: RedisError.tooManyPendingCommands(limit: 5)) {
            try await connection.send("INCR", "n").get(within: .milliseconds(100))
        }
        // The held ones complete once the pause ends (within their 2 s deadline).
        let values = try await EventLoopFuture.whenAllSucceed(held, on: self.eventLoop).get(within: .seconds(5))
        #expect(values == (1...5).map { RESPValue.integer(Int64($0)) })
        try await connection.close().get(within: .seconds(5))
        server.stop()
    }

    @Test func aSubscribeRefusedByAnACLIsReportedAndRetriedUntilAllowed() async throws {
        let server = try await RedisServerProcess.start()
        let created = server.command("ACL", "SETUSER", "limited", "on", ">secret", "~*", "+@all", "resetchannels", "&herald:{allowed}")
        #expect(created?.hasPrefix("+OK") == true)
        var configuration = try RedisConfiguration(url: "redis://limited:secret@127.0.0.1:\(server.port)")
        configuration.reconnectBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        let messages = Recorder<String>()
        let states = Recorder<Bool>()
        let subscriber = RedisSubscriber(
            configuration: configuration, eventLoop: self.eventLoop, logger: testLogger,
            onMessage: { channel, payload in messages.append("\(channel) \(String(buffer: payload))") },
            onConnectionStateChange: { states.append($0) }
        )
        subscriber.start()
        subscriber.retain(channel: "herald:{allowed}")
        try await waitUntil("the allowed channel is subscribed") { subscriber.isConnected && subscriber.subscribedChannels == ["herald:{allowed}"] }

        subscriber.retain(channel: "herald:{forbidden}")
        try await waitUntil("the refusal is reported") { !subscriber.refusedSubscriptions.isEmpty }
        #expect(subscriber.refusedSubscriptions["herald:{forbidden}"]?.hasPrefix("NOPERM") == true)
        #expect(!subscriber.isConnected)
        let problem = try #require(subscriber.problem)
        #expect(problem.contains("herald:{forbidden}") && problem.contains("NOPERM"))
        #expect(states.values == [true, false])

        // The allowed channel keeps delivering meanwhile.
        #expect(server.command("PUBLISH", "herald:{allowed}", "one")?.hasPrefix(":1") == true)
        try await waitUntil("the allowed channel delivers") { messages.values == ["herald:{allowed} one"] }

        // Once the ACL allows it, the retry subscribes and the subscriber is connected again.
        #expect(server.command("ACL", "SETUSER", "limited", "&herald:{forbidden}")?.hasPrefix("+OK") == true)
        try await waitUntil("the retry succeeds", timeout: .seconds(10)) { subscriber.isConnected }
        #expect(subscriber.refusedSubscriptions.isEmpty)
        #expect(subscriber.subscribedChannels == ["herald:{allowed}", "herald:{forbidden}"])
        #expect(states.values == [true, false, true])
        #expect(server.command("PUBLISH", "herald:{forbidden}", "two")?.hasPrefix(":1") == true)
        try await waitUntil("the formerly forbidden channel delivers") { messages.count == 2 }
        #expect(messages.values.last == "herald:{forbidden} two")
        try await subscriber.shutdown().get(within: .seconds(5))
        server.stop()
    }
}
