import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import Presence
import PubSubBridge

/// Presence and typing in Redis keys with TTLs, through the `herald_presence` function library,
/// so a node can die without leaving ghosts: its entries expire and any other node's heartbeat
/// sweeps them, publishing the leaves exactly once.
public final class RedisPresenceStore: PresenceStore {
    private let functions: RedisFunctions
    private let timing: PresenceTiming
    /// The lifecycle stream user-level joins and leaves are also appended to; nil when off.
    private let lifecycleStream: String?
    private let deployment: RedisDeployment

    /// - Parameters:
    ///   - lifecycleStream: when set, every `presence.join`/`presence.leave` is also appended to this
    ///     stream, atomically with the event. Not on a cluster (the stream is outside the account's slot).
    ///   - deployment: a single Redis or a cluster (sharded publishing, full key lists).
    public init(
        client: any RedisCommandRouter, timing: PresenceTiming, logger: Logger, lifecycleStream: String? = nil,
        deployment: RedisDeployment = .standalone
    ) {
        precondition(lifecycleStream == nil || !deployment.isCluster, "the lifecycle stream is not supported on a Redis Cluster")
        let library = PresenceFunctionLibrary(deployment: deployment)
        self.functions = RedisFunctions(
            client: client,
            library: .init(
                name: "herald_presence", versionFunction: "herald_presence_version",
                version: library.version, source: library.source),
            logger: logger)
        self.timing = timing
        self.lifecycleStream = lifecycleStream
        self.deployment = deployment
    }

    /// The keys of a call that may change who is present: the channel, then the lifecycle stream
    /// (or, on a cluster, the account's presence keys).
    private func presenceKeys(_ account: String) -> [String] {
        let channel = AccountChannel.name(for: account)
        if deployment.isCluster { return deployment.functionKeys(channel: channel, suffixes: PresenceFunctionLibrary.presenceSuffixes) }
        guard let lifecycleStream else { return ["1", channel] }
        return ["2", channel, lifecycleStream]
    }

    /// The keys of a typing call.
    private func typingKeys(_ account: String) -> [String] {
        deployment.functionKeys(channel: AccountChannel.name(for: account), suffixes: PresenceFunctionLibrary.typingSuffixes)
    }

    /// Loads the function library unless Redis already has this version.
    public func installFunctions() -> EventLoopFuture<Void> {
        functions.install()
    }

    public func join(account: String, member: PresenceMember, info: String?) -> EventLoopFuture<Void> {
        let arguments = ["FCALL", "herald_presence_join"] + presenceKeys(account)
            + [member.user, member.connection, String(timing.entryTTL), String(timing.keyTTL), info ?? ""]
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { _ in }
    }

    public func leave(account: String, member: PresenceMember) -> EventLoopFuture<Void> {
        let arguments = ["FCALL", "herald_presence_leave"] + presenceKeys(account) + [member.user, member.connection]
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { _ in }
    }

    public func heartbeat(account: String, members: [PresenceMember]) -> EventLoopFuture<Void> {
        var arguments = ["FCALL", "herald_presence_heartbeat"] + presenceKeys(account) + [String(timing.entryTTL), String(timing.keyTTL)]
        arguments.reserveCapacity(arguments.count + members.count * 2)
        for member in members {
            arguments.append(member.user)
            arguments.append(member.connection)
        }
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { _ in }
    }

    public func users(account: String) -> EventLoopFuture<[PresenceUser]> {
        let arguments = ["FCALL_RO", "herald_presence_users"] + presenceKeys(account)
        return functions.call(arguments.map { ByteBuffer(string: $0) }).flatMapThrowing { reply in
            guard let items = reply.array, items.count % 3 == 0 else {
                throw RedisError.protocolError("herald_presence_users answered \(reply)")
            }
            return stride(from: 0, to: items.count, by: 3).compactMap { index in
                guard let user = items[index].string, let count = items[index + 1].int else { return nil }
                let info = items[index + 2].string.flatMap { $0.isEmpty ? nil : $0 }
                return PresenceUser(user: user, connections: Int(count), info: info)
            }
        }
    }

    public func startTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool> {
        let arguments = ["FCALL", "herald_typing_start"] + typingKeys(account)
            + [conversation, user, String(timing.typingTTL), String(timing.keyTTL), echo ? "1" : "0"]
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { $0.int == 1 }
    }

    public func stopTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool> {
        let arguments = ["FCALL", "herald_typing_stop"] + typingKeys(account) + [conversation, user, echo ? "1" : "0"]
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { $0.int == 1 }
    }

    public func flush() -> EventLoopFuture<Void> {
        // A round trip on every primary: what was sent before has been handled.
        let primaries = functions.client.primaryClients
        return EventLoopFuture.andAllSucceed(primaries.map { $0.send("PING").map { _ in } }, on: functions.client.eventLoop)
    }

    public func sweepTyping(account: String, echo: Bool) -> EventLoopFuture<TimeAmountMilliseconds?> {
        let arguments = ["FCALL", "herald_typing_sweep"] + typingKeys(account) + [echo ? "1" : "0"]
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { reply in
            guard let next = reply.int, next >= 0 else { return nil }
            return next
        }
    }
}
