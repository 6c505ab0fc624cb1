import Logging
import NIOCore

/// One Redis FUNCTION library kept loaded: installed only when Redis has another version (so
/// many nodes can start at once), and reloaded once when Redis forgot it (a restart without
/// persistence) before a call is retried.
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

    public let client: RedisCommandClient
    public let library: Library
    private let logger: Logger

    public init(client: RedisCommandClient, library: Library, logger: Logger) {
        self.client = client
        self.library = library
        var logger = logger
        logger[metadataKey: "redis.library"] = "\(library.name)"
        self.logger = logger
    }

    /// Loads the library unless Redis already has this exact version; safe to call from many nodes at once.
    public func install() -> EventLoopFuture<Void> {
        let wanted = library.version
        return client.send("FCALL_RO", library.versionFunction, "0")
            .map { reply -> String? in reply.string }
            .flatMapError { error -> EventLoopFuture<String?> in
                Self.isMissingFunction(error)
                    ? self.client.eventLoop.makeSucceededFuture(nil)
                    : self.client.eventLoop.makeFailedFuture(error)
            }
            .flatMap { installed -> EventLoopFuture<Void> in
                if installed == wanted { return self.client.eventLoop.makeSucceededVoidFuture() }
                if let installed {
                    self.logger.warning(
                        "Replacing a Redis function library of another version; nodes configured differently replace each other's",
                        metadata: ["installed": "\(installed)", "wanted": "\(wanted)"])
                }
                return self.client.send("FUNCTION", "LOAD", "REPLACE", self.library.source).map { _ in
                    self.logger.info("Loaded a Redis function library", metadata: ["version": "\(wanted)"])
                }
            }
    }

    /// Sends a function call; when Redis no longer knows the function, reloads the library and sends it once more.
    public func call(_ arguments: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        client.send(arguments).flatMapError { error in
            guard Self.isMissingFunction(error) else { return self.client.eventLoop.makeFailedFuture(error) }
            self.logger.notice("Redis lost a function library (restarted?); loading it again")
            return self.install().flatMap { self.client.send(arguments) }
        }
    }

    /// `call` with string arguments.
    public func call(_ arguments: String...) -> EventLoopFuture<RESPValue> {
        call(arguments.map { ByteBuffer(string: $0) })
    }

    static func isMissingFunction(_ error: Error) -> Bool {
        (error as? RedisError)?.serverMessage?.hasPrefix("ERR Function not found") == true
    }
}
