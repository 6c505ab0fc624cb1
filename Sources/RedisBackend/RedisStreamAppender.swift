import Logging
import NIOConcurrencyHelpers
import NIOCore
import PubSubBridge

/// Appends entries to Redis streams with one `XADD … MAXLEN ~ <n> *` each, and keeps them within
/// their age with an `XTRIM … MINID ~` at most once per second per stream.
///
/// `XADD` takes one trim strategy, so the age cap is a second command; its threshold comes from
/// the id Redis just generated (Redis's clock, never the node's), and it runs after the append
/// succeeded, so an append is never delayed or undone by it. On a cluster both go to the primary
/// of the stream's slot.
final class RedisStreamAppender: Sendable {
    let client: any RedisCommandRouter
    let caps: StreamCaps
    private let logger: Logger
    /// When each stream was last trimmed by age (Redis milliseconds).
    private let lastTrim = NIOLockedValueBox<[String: UInt64]>([:])

    /// Age trims per stream are at least this far apart.
    static let trimInterval: UInt64 = 1000

    init(client: any RedisCommandRouter, caps: StreamCaps, logger: Logger) {
        self.client = client
        self.caps = caps
        self.logger = logger
    }

    /// Appends one entry of `fields` (name, value pairs) to `key`; succeeds with the entry's id.
    func append(to key: String, fields: [(String, ByteBuffer)]) -> EventLoopFuture<String> {
        var arguments: [ByteBuffer] = ["XADD", key, "MAXLEN", "~", String(caps.maxLength), "*"].map { ByteBuffer(string: $0) }
        arguments.reserveCapacity(arguments.count + fields.count * 2)
        for (name, value) in fields {
            arguments.append(ByteBuffer(string: name))
            arguments.append(value)
        }
        return client.send(arguments, key: key).flatMapThrowing { reply in
            guard let id = reply.string else { throw RedisError.protocolError("XADD answered \(reply) instead of an id") }
            self.trimByAge(key, after: id)
            return id
        }
    }

    /// `XTRIM key MINID ~ <id's ms - max age>`, when the stream was not trimmed in the last second.
    private func trimByAge(_ key: String, after id: String) {
        guard let dash = id.firstIndex(of: "-"), let milliseconds = UInt64(id[..<dash]) else { return }
        let due = lastTrim.withLockedValue { last -> Bool in
            if let previous = last[key], milliseconds < previous + Self.trimInterval { return false }
            last[key] = milliseconds
            return true
        }
        guard due else { return }
        let threshold = milliseconds - min(milliseconds, UInt64(max(0, caps.maxAge.nanoseconds / 1_000_000)))
        client.send(key: key, "XTRIM", key, "MINID", "~", String(threshold)).whenFailure { error in
            self.logger.debug("stream age trim failed; the next append retries", metadata: ["redis.key": "\(key)", "error": "\(error)"])
        }
    }
}
