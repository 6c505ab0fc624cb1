import HeraldTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import PubSubBridge

@Suite("A command connection per event loop, against redis-server", .serialized, .timeLimit(.minutes(1)))
struct RedisLoopLocalClientsTests {
    @Test func eachLoopUsesItsOwnConnectionAndCompletesThere() async throws {
        let server = try await RedisServerProcess.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let clients = RedisLoopLocalClients(configuration: try testConfiguration(server), eventLoops: loops, logger: testLogger)
        clients.start()
        try await waitUntil("every loop's connection is up") { clients.isConnected }
        var ids: [RESPValue] = []
        for loop in loops {
            let (id, completedOnCaller) = try await loop.flatSubmit {
                let reply = clients.send([ByteBuffer(string: "CLIENT"), ByteBuffer(string: "ID")], key: nil, replication: nil)
                return reply.map { ($0, reply.eventLoop === loop) }
            }.get(within: .seconds(5))
            #expect(completedOnCaller, "a command sent on a loop completes on that loop, with no hop")
            ids.append(id)
        }
        #expect(Set(ids.compactMap(\.int)).count == 2, "two loops, two connections")
        // From outside every loop: the first loop's connection.
        let outside = try await clients.send([ByteBuffer(string: "CLIENT"), ByteBuffer(string: "ID")], key: nil, replication: nil)
            .get(within: .seconds(5))
        #expect(outside == ids[0])
        try await clients.shutdown().get(within: .seconds(5))
        try await group.shutdownGracefully()
    }

    @Test func commandsSentInOnePassLeaveTogetherAndReplyInOrder() async throws {
        let server = try await RedisServerProcess.start()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var configuration = try testConfiguration(server)
        configuration.flushesOncePerLoopPass = true
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoop: loop, logger: testLogger
        ).get(within: .seconds(5))
        // Sent on the loop, the 500 commands are flushed once at the end of the pass.
        let values = try await loop.flatSubmit {
            EventLoopFuture.whenAllSucceed((0..<500).map { _ in connection.send("INCR", "counter") }, on: loop)
        }.get(within: .seconds(10))
        #expect(values == (1...500).map { RESPValue.integer(Int64($0)) })
        // A later pass flushes again: nothing is left waiting for a flush that already ran.
        let next = try await loop.flatSubmit { connection.send("INCR", "counter") }.get(within: .seconds(5))
        #expect(next == .integer(501))
        try await connection.close().get(within: .seconds(5))
    }
}
