import Foundation
// Logging comes with PubSubBridge (RedisConnection takes a Logger).
import Logging
import NIOCore
import NIOPosix
import PubSubBridge

/// The cluster's Redis as a backend sees it: what `redis-cli PUBLISH` and `redis-cli FCALL herald_publish`
/// do, plus the reads a test needs (history stream, channel subscribers).
struct ClusterRedis: Sendable {
    let connection: RedisConnection

    static func connect(url: String) async throws -> ClusterRedis {
        var logger = Logger(label: "test.cluster.redis")
        logger.logLevel = .critical
        let connection = try await RedisConnection.connect(
            configuration: try RedisConfiguration(url: url), eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            logger: logger
        ).get()
        return ClusterRedis(connection: connection)
    }

    /// `PUBLISH herald:{account} <json>`: live only, no offset.
    func publishLive(account: String, _ json: String) async throws {
        let reply = try await connection.send("PUBLISH", "herald:{\(account)}", json).get()
        guard reply.int != nil else { throw ClusterTestFailure("PUBLISH answered \(reply)") }
    }

    /// `FCALL herald_publish 1 herald:{account} <json>`: stored in history; returns the offset.
    func publishWithHistory(account: String, _ json: String) async throws -> String {
        let reply = try await connection.send("FCALL", "herald_publish", "1", "herald:{\(account)}", json).get()
        guard let offset = reply.string else { throw ClusterTestFailure("FCALL herald_publish answered \(reply)") }
        return offset
    }

    /// Every event in the account's history stream, oldest first (the stream holds the stamped JSON in field `e`).
    func history(account: String) async throws -> [ReceivedEvent] {
        let reply = try await connection.send("XRANGE", "herald:{\(account)}:log", "-", "+").get()
        guard let entries = reply.array else { throw ClusterTestFailure("XRANGE answered \(reply)") }
        return try entries.map { entry in
            guard let fields = entry.array?.last?.array, fields.count == 2, let text = fields[1].string,
                let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
                let event = ReceivedEvent(json: json)
            else { throw ClusterTestFailure("unexpected history entry \(entry)") }
            return event
        }
    }

    /// How many nodes subscribe to the account's channel.
    func subscriberCount(account: String) async throws -> Int {
        let reply = try await connection.send("PUBSUB", "NUMSUB", "herald:{\(account)}").get()
        guard let items = reply.array, items.count == 2, let count = items[1].int else { return 0 }
        return Int(count)
    }

    func close() async {
        _ = try? await connection.close().get()
    }
}
