import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import PubSubBridge

/// An account's event history in Redis (`herald:{A}:log` stream and `herald:{A}:epoch`), used through
/// the `herald` function library so that storing, stamping the offset and publishing is one atomic step.
///
/// Futures complete on the client's event loop. If Redis lost the library (a restart without persistence,
/// a new cluster primary), a call reloads it once and retries. On a cluster each call goes to the
/// primary of the account's slot.
public final class RedisHistory: Sendable {
    private let functions: RedisFunctions
    private let window: HistoryWindow
    private let deployment: RedisDeployment
    private let replication: RedisReplicationWait?
    private var client: any RedisCommandRouter { functions.client }

    /// - Parameters:
    ///   - deployment: a single Redis or a cluster (sharded publishing, full key lists).
    ///   - replication: when set, a publish is reported only after `WAIT` saw it reach that many
    ///     replicas (or its timeout passed), so a failover right after cannot lose it.
    public init(
        client: any RedisCommandRouter, window: HistoryWindow, deployment: RedisDeployment = .standalone,
        replication: RedisReplicationWait? = nil, logger: Logger = Logger(label: "herald.redis.history")
    ) {
        let library = HeraldFunctionLibrary(window: window, deployment: deployment)
        self.functions = RedisFunctions(
            client: client,
            library: .init(name: "herald", versionFunction: "herald_version", version: library.version, source: library.source),
            logger: logger)
        self.window = window
        self.deployment = deployment
        self.replication = replication
    }

    /// `numkeys` and the keys of a call on `channel`.
    private func keys(_ channel: String) -> [String] {
        deployment.functionKeys(channel: channel, suffixes: HeraldFunctionLibrary.keySuffixes)
    }

    /// Loads the `herald` library unless Redis already has this exact version; safe to call from many nodes at once.
    public func installFunctions() -> EventLoopFuture<Void> {
        guard window.maxEvents > 0, window.maxAgeMilliseconds > 0 else {
            return client.eventLoop.makeFailedFuture(
                RedisError.invalidCommand("history window needs maxEvents > 0 and maxAge >= 1 ms, got \(window)")
            )
        }
        return functions.install()
    }

    /// Stores `event` (a JSON object) in the account's history with its offset as first key, publishes the
    /// stamped bytes on `channel` and returns the offset. Fails with ``RedisError/serverError(_:)`` for an
    /// event the function refuses. `validated`: the caller checked the event with the function's rules
    /// already (the node's HTTP API does), so Redis skips the checks (`herald_publish_validated`).
    public func publish(channel: String, event: ByteBuffer, validated: Bool = false) -> EventLoopFuture<StreamOffset> {
        let function = validated ? "herald_publish_validated" : "herald_publish"
        let arguments = (["FCALL", function] + keys(channel)).map { ByteBuffer(string: $0) } + [event]
        return functions.call(arguments, key: channel, replication: replication)
            .flatMapThrowing { reply in
                guard let text = reply.string, let offset = StreamOffset(text) else {
                    throw RedisError.protocolError("\(function) answered \(reply) instead of an offset")
                }
                return offset
            }
    }

    /// Up to `limit` events after `after`, oldest first, or a truncated page when they cannot all be recovered.
    /// With `total`, Redis first checks whether more than `total` events follow (the page then only
    /// says so), so a reader learns it is too far behind without the window being sent.
    public func read(channel: String, after: StreamOffset, limit: Int, total: Int? = nil) -> EventLoopFuture<HistoryPage> {
        guard limit > 0 else {
            return self.client.eventLoop.makeFailedFuture(RedisError.invalidCommand("history read limit must be > 0, got \(limit)"))
        }
        var arguments = ["FCALL_RO", "herald_read"] + keys(channel) + [after.description, String(limit)]
        if let total { arguments.append(String(total)) }
        return self.call(arguments.map { ByteBuffer(string: $0) }, channel: channel)
            .flatMapThrowing { reply in try Self.page(from: reply) }
    }

    /// The account's current offset (its epoch, created if absent, and the last entry id or `0-0`):
    /// reading after it later returns exactly what was published since.
    public func position(channel: String) -> EventLoopFuture<StreamOffset> {
        self.call((["FCALL", "herald_position"] + keys(channel)).map { ByteBuffer(string: $0) }, channel: channel)
            .flatMapThrowing { reply in
                guard let text = reply.string, let offset = StreamOffset(text) else {
                    throw RedisError.protocolError("herald_position answered \(reply) instead of an offset")
                }
                return offset
            }
    }

    private func call(_ arguments: [ByteBuffer], channel: String) -> EventLoopFuture<RESPValue> {
        functions.call(arguments, key: channel)
    }

    /// Decodes herald_read's `[epoch or "", truncated, hasMore, id1, event1, ...]`.
    private static func page(from reply: RESPValue) throws -> HistoryPage {
        guard let elements = reply.array, elements.count >= 3, elements.count % 2 == 1,
              let epoch = elements[0].string, let truncated = elements[1].int, let hasMore = elements[2].int
        else {
            throw RedisError.protocolError("herald_read answered \(reply)")
        }
        var events: [HistoryEvent] = []
        events.reserveCapacity((elements.count - 3) / 2)
        var index = 3
        while index < elements.count {
            guard let id = elements[index].string, let payload = elements[index + 1].bytes,
                  let offset = StreamOffset(epoch: epoch, streamID: id[...])
            else {
                throw RedisError.protocolError("herald_read answered a malformed entry: \(elements[index]) \(elements[index + 1])")
            }
            events.append(HistoryEvent(offset: offset, payload: payload))
            index += 2
        }
        // `truncated` 2: more events than the reader's total follow.
        return HistoryPage(
            epoch: epoch.isEmpty ? nil : epoch, events: events, truncated: truncated == 1, hasMore: hasMore != 0,
            exceedsTotal: truncated == 2)
    }
}
