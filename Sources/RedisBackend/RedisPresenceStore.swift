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

    public init(client: RedisCommandClient, timing: PresenceTiming, logger: Logger) {
        self.functions = RedisFunctions(
            client: client,
            library: .init(
                name: "herald_presence", versionFunction: "herald_presence_version",
                version: PresenceFunctionLibrary.version, source: PresenceFunctionLibrary.source),
            logger: logger)
        self.timing = timing
    }

    /// Loads the function library unless Redis already has this version.
    public func installFunctions() -> EventLoopFuture<Void> {
        functions.install()
    }

    public func join(account: String, member: PresenceMember, info: String?) -> EventLoopFuture<Void> {
        functions.call(
            "FCALL", "herald_presence_join", "1", AccountChannel.name(for: account), member.user, member.connection,
            String(timing.entryTTL), String(timing.keyTTL), info ?? ""
        ).map { _ in }
    }

    public func leave(account: String, member: PresenceMember) -> EventLoopFuture<Void> {
        functions.call("FCALL", "herald_presence_leave", "1", AccountChannel.name(for: account), member.user, member.connection).map { _ in }
    }

    public func heartbeat(account: String, members: [PresenceMember]) -> EventLoopFuture<Void> {
        var arguments = ["FCALL", "herald_presence_heartbeat", "1", AccountChannel.name(for: account), String(timing.entryTTL), String(timing.keyTTL)]
        arguments.reserveCapacity(arguments.count + members.count * 2)
        for member in members {
            arguments.append(member.user)
            arguments.append(member.connection)
        }
        return functions.call(arguments.map { ByteBuffer(string: $0) }).map { _ in }
    }

    public func users(account: String) -> EventLoopFuture<[PresenceUser]> {
        functions.call("FCALL_RO", "herald_presence_users", "1", AccountChannel.name(for: account)).flatMapThrowing { reply in
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
        functions.call(
            "FCALL", "herald_typing_start", "1", AccountChannel.name(for: account), conversation, user,
            String(timing.typingTTL), String(timing.keyTTL), echo ? "1" : "0"
        ).map { $0.int == 1 }
    }

    public func stopTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool> {
        functions.call("FCALL", "herald_typing_stop", "1", AccountChannel.name(for: account), conversation, user, echo ? "1" : "0")
            .map { $0.int == 1 }
    }

    public func flush() -> EventLoopFuture<Void> {
        functions.client.send("PING").map { _ in }
    }

    public func sweepTyping(account: String, echo: Bool) -> EventLoopFuture<TimeAmountMilliseconds?> {
        functions.call("FCALL", "herald_typing_sweep", "1", AccountChannel.name(for: account), echo ? "1" : "0").map { reply in
            guard let next = reply.int, next >= 0 else { return nil }
            return next
        }
    }
}
