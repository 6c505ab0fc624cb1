import Foundation
import HeraldBroker
import Logging
import NIOCore
import PubSubBridge

/// Connection opens and closes appended to the lifecycle stream (`HERALD_LIFECYCLE_STREAM`), beside
/// the `presence.join`/`presence.leave` entries the `herald_presence` functions append there.
///
/// Entry fields: `event` (`connection.open`, `connection.close`), `account`, `user`, `connection`,
/// `node`, `at` (Unix ms, the node's clock).
public final class RedisLifecycleStream: LifecycleRecorder {
    private let appender: RedisStreamAppender
    /// The stream's key.
    public let key: String
    private let node: String

    public init(client: any RedisCommandRouter, key: String, caps: StreamCaps, node: String, logger: Logger) {
        self.appender = RedisStreamAppender(client: client, caps: caps, logger: logger)
        self.key = key
        self.node = node
    }

    @discardableResult
    public func record(_ event: LifecycleEvent) -> EventLoopFuture<Void> {
        let milliseconds = UInt64(Date().timeIntervalSince1970 * 1000)
        let fields = [
            ("event", event.kind.rawValue), ("account", event.account), ("user", event.user), ("connection", event.connection),
            ("node", node), ("at", String(milliseconds)),
        ].map { ($0.0, ByteBuffer(string: $0.1)) }
        return appender.append(to: key, fields: fields).map { _ in }
    }
}
