import Logging
import NIOCore

/// One Redis FUNCTION library kept loaded on every primary: installed only where Redis has another
/// version (so many nodes can start at once), and reloaded once when a primary forgot it (a restart
/// without persistence, a new cluster primary) before a call is retried.
public final class RedisFunctions: Sendable {
    /// A library's identity, version and Lua source. `versionFunction` must return `version`.
    public struct Library: Sendable, Equatable {
        public var name: String
        public var versionFunction: String
        public var version: String
        public var source: String

        public init(name: String, versionFunction: String, version: String, source: String) {
            self.name = name
            self.versionFunction = versionFunction
            self.version = version
            self.source = source
        }
    }

    /// Where calls go: one Redis, or the primary of each call's key in a cluster.
    public let client: any RedisCommandRouter
    public let library: Library
    private let logger: Logger

    public init(client: any RedisCommandRouter, library: Library, logger: Logger) {
        self.client = client
        self.library = library
        var logger = logger
        logger[metadataKey: "redis.library"] = "\(library.name)"
        self.logger = logger
    }

    /// Loads the library on every primary that lacks this exact version; safe to call from many nodes at once.
    /// Fails when there is no primary yet or one of them failed.
    public func install() -> EventLoopFuture<Void> {
        let primaries = client.primaryClients
        guard !primaries.isEmpty else { return client.eventLoop.makeFailedFuture(RedisError.notConnected) }
        return EventLoopFuture.andAllSucceed(primaries.map { self.install(on: $0).hop(to: self.client.eventLoop) }, on: client.eventLoop)
    }

    /// Loads the library on one server unless it already has this exact version.
    public func install(on server: RedisCommandClient) -> EventLoopFuture<Void> {
        let wanted = library.version
        return server.send("FCALL_RO", library.versionFunction, "0")
            .map { reply -> String? in reply.string }
            .flatMapError { error -> EventLoopFuture<String?> in
                Self.isMissingFunction(error)
                    ? server.eventLoop.makeSucceededFuture(nil)
                    : server.eventLoop.makeFailedFuture(error)
            }
            .flatMap { installed -> EventLoopFuture<Void> in
                if installed == wanted { return server.eventLoop.makeSucceededVoidFuture() }
                if let installed {
                    self.logger.warning(
                        "Replacing a Redis function library of another version; nodes configured differently replace each other's",
                        metadata: ["installed": "\(installed)", "wanted": "\(wanted)"])
                }
                return server.send("FUNCTION", "LOAD", "REPLACE", self.library.source).map { _ in
                    self.logger.info("Loaded a Redis function library", metadata: ["version": "\(wanted)"])
                }
            }
    }

    /// Sends a function call to the primary serving `key`; when Redis no longer knows the function,
    /// loads the library again and sends it once more. With `replication`, waits for replicas after it.
    public func call(_ arguments: [ByteBuffer], key: String?, replication: RedisReplicationWait? = nil) -> EventLoopFuture<RESPValue> {
        client.send(arguments, key: key, replication: replication).flatMapError { error in
            guard Self.isMissingFunction(error) else { return self.client.eventLoop.makeFailedFuture(error) }
            self.logger.notice("Redis lost a function library (restarted, or a new primary?); loading it again")
            return self.install().flatMap { self.client.send(arguments, key: key, replication: replication) }
        }
    }

    /// Sends a function call (`FCALL name numkeys key …`), routed by its first key.
    public func call(_ arguments: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        call(arguments, key: Self.firstKey(of: arguments))
    }

    /// `call` with string arguments.
    public func call(_ arguments: String...) -> EventLoopFuture<RESPValue> {
        call(arguments.map { ByteBuffer(string: $0) })
    }

    /// The first key of `FCALL`/`FCALL_RO name numkeys key …`, nil when it has none.
    static func firstKey(of arguments: [ByteBuffer]) -> String? {
        guard arguments.count > 3, let count = Int(String(buffer: arguments[2])), count > 0 else { return nil }
        return String(buffer: arguments[3])
    }

    static func isMissingFunction(_ error: Error) -> Bool {
        (error as? RedisError)?.serverMessage?.hasPrefix("ERR Function not found") == true
    }
}
