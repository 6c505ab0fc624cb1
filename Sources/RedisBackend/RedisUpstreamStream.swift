import Foundation
import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import PubSubBridge

/// Client messages appended to a Redis stream (`herald:upstream`, or split by account) with one
/// `XADD` each, capped by length and age. Backends read it with consumer groups (`XREADGROUP`,
/// `XACK`, `XAUTOCLAIM` for a crashed worker's entries): at-least-once delivery.
///
/// It uses its own command connection, so a burst of client messages never queues in front of
/// the broker's history reads or presence calls. While Redis is down an append fails at once
/// with ``UpstreamError/unavailable(_:)`` and nothing is stored.
///
/// Entry fields: `account`, `user`, `connection`, `node`, `id` (the client's id as JSON text,
/// only when it sent one), `type`, `data` (the JSON text as sent), `received_at` (Unix ms).
public final class RedisUpstreamStream: UpstreamSink {
    private let appender: RedisStreamAppender
    private let key: UpstreamStreamKey

    /// - Parameter client: a started command connection; ``shutdown()`` closes it.
    public init(client: any RedisCommandRouter, key: UpstreamStreamKey, caps: StreamCaps, logger: Logger) {
        self.appender = RedisStreamAppender(client: client, caps: caps, logger: logger)
        self.key = key
    }

    public var destination: String {
        key.shards == 1 ? "redis stream \(key.base)" : "redis streams \(key.base):{0..\(key.shards - 1)}"
    }

    public func send(_ message: UpstreamMessage) -> EventLoopFuture<UpstreamReceipt> {
        var fields: [(String, ByteBuffer)] = [
            ("account", ByteBuffer(string: message.account)),
            ("user", ByteBuffer(string: message.user)),
            ("connection", ByteBuffer(string: message.connection)),
            ("node", ByteBuffer(string: message.node)),
        ]
        if let id = message.id { fields.append(("id", ByteBuffer(string: id.jsonText))) }
        fields.append(("type", ByteBuffer(string: message.type)))
        fields.append(("data", ByteBuffer(bytes: message.data)))
        fields.append(("received_at", ByteBuffer(string: String(message.receivedAt))))
        return appender.append(to: key.key(for: message.account), fields: fields)
            .map { _ in UpstreamReceipt.accepted }
            .flatMapErrorThrowing { error in throw UpstreamError.unavailable("\(error)") }
    }

    public func shutdown() -> EventLoopFuture<Void> {
        appender.client.shutdown()
    }
}
