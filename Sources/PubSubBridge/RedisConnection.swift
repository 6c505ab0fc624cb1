import Logging
import NIOCore
import NIOPosix

/// One Redis connection on one event loop.
///
/// Commands are pipelined: any number may be in flight, and replies complete them in the order they were sent.
/// All methods may be called from any thread; futures complete on ``eventLoop``.
public final class RedisConnection: Sendable {
    /// The event loop that runs this connection's I/O and completes its futures.
    public let eventLoop: EventLoop
    private let channel: Channel
    private let handler: NIOLoopBound<RedisCommandHandler>
    /// ``RedisConfiguration/flushesOncePerLoopPass``.
    private let flushesOncePerLoopPass: Bool
    /// A flush is queued for the end of this pass of the event loop.
    private let flushQueued: NIOLoopBoundBox<Bool>

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> {
        self.channel.closeFuture
    }

    private init(channel: Channel, handler: NIOLoopBound<RedisCommandHandler>, flushesOncePerLoopPass: Bool) {
        self.flushesOncePerLoopPass = flushesOncePerLoopPass
        self.eventLoop = channel.eventLoop
        self.channel = channel
        self.handler = handler
        self.flushQueued = .makeBoxSendingValue(false, eventLoop: channel.eventLoop)
    }

    /// Opens a connection, then authenticates (`AUTH`, with the user name if one is set), selects the database,
    /// and waits for a `PING` round trip: a stopped Redis still completes the TCP handshake in the kernel.
    ///
    /// Fails with ``RedisError/timeout(_:)`` if all of that takes longer than `configuration.connectTimeout`
    /// (or a command of it longer than `configuration.commandTimeout`); the socket is closed then.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoop: EventLoop,
        logger: Logger
    ) -> EventLoopFuture<RedisConnection> {
        let endpoint = "\(configuration.host):\(configuration.port)"
        let result = eventLoop.makePromise(of: RedisConnection.self)
        let timeout = eventLoop.scheduleTask(in: configuration.connectTimeout) {
            result.fail(RedisError.timeout("connecting to Redis at \(endpoint) took longer than \(configuration.connectTimeout)"))
        }
        let handshake = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        RedisReplyDecoder(),
                        RedisCommandHandler(configuration: configuration, logger: logger)
                    )
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMapErrorThrowing { error in
                throw RedisError.connectionFailed("\(endpoint): \(error)")
            }
            .flatMapThrowing { channel in
                // Whoever fails the result (the timeout, a failed handshake) leaves nobody owning the socket.
                result.futureResult.whenFailure { _ in channel.close(promise: nil) }
                let handler = try channel.pipeline.syncOperations.handler(type: RedisCommandHandler.self)
                return RedisConnection(
                    channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                    flushesOncePerLoopPass: configuration.flushesOncePerLoopPass)
            }
            .flatMap { connection in
                connection.handshake(configuration).map { @Sendable _ in connection }
            }
        handshake.whenComplete { outcome in
            timeout.cancel()
            result.completeWith(outcome)
        }
        return result.futureResult
    }

    /// Runs AUTH, SELECT and PING; closes the connection if any fails.
    private func handshake(_ configuration: RedisConfiguration) -> EventLoopFuture<Void> {
        var ready = self.eventLoop.makeSucceededVoidFuture()
        if let password = configuration.password {
            let arguments = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            ready = self.send(arguments.map { ByteBuffer(string: $0) })
                .flatMapErrorThrowing { error in
                    if let message = (error as? RedisError)?.serverMessage {
                        throw RedisError.authenticationFailed(message)
                    }
                    throw error
                }
                .map { _ in }
        }
        if configuration.database != 0 {
            ready = ready.flatMap {
                self.send("SELECT", String(configuration.database)).map { _ in }
            }
        }
        // The round trip that proves Redis is running. An error reply (an ACL without PING) proves it too.
        ready = ready.flatMap {
            self.send("PING").map { _ in }.flatMapErrorThrowing { error in
                if (error as? RedisError)?.serverMessage != nil { return }
                throw error
            }
        }
        return ready.flatMapError { error in
            self.channel.close(promise: nil)
            return self.eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends a command (name first, then its arguments) and returns its reply.
    ///
    /// A Redis error reply fails the future with ``RedisError/serverError(_:)``.
    public func send(_ arguments: [ByteBuffer]) -> EventLoopFuture<RESPValue> {
        guard !arguments.isEmpty else {
            return self.eventLoop.makeFailedFuture(RedisError.invalidCommand("a command needs at least its name"))
        }
        let reply = self.eventLoop.makePromise(of: RESPValue.self)
        let written = self.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            reply.fail(error as? RedisError ?? .connectionClosed)
        }
        guard self.flushesOncePerLoopPass, self.eventLoop.inEventLoop else {
            self.channel.writeAndFlush(RedisRequest.command(arguments, reply), promise: written)
            return reply.futureResult
        }
        self.channel.write(RedisRequest.command(arguments, reply), promise: written)
        self.flushAtEndOfPass()
        return reply.futureResult
    }

    /// Flushes once per pass of the event loop: the commands of every request the loop handled in
    /// one pass (publishes read from many HTTP connections at once) leave in one `write` system call.
    private func flushAtEndOfPass() {
        guard !self.flushQueued.value else { return }
        self.flushQueued.value = true
        self.eventLoop.assumeIsolated().execute {
            self.flushQueued.value = false
            self.channel.flush()
        }
    }

    /// Sends a command given as text arguments, e.g. `send("INCR", "counter")`.
    public func send(_ arguments: String...) -> EventLoopFuture<RESPValue> {
        self.send(arguments.map { ByteBuffer(string: $0) })
    }

    /// Closes the connection; commands still waiting fail with ``RedisError/connectionClosed``.
    public func close() -> EventLoopFuture<Void> {
        self.channel.close(mode: .all, promise: nil)
        return self.channel.closeFuture
    }

    /// Routes pub/sub pushes to `onPush`, and the channels of a SUBSCRIBE that Redis refused (e.g. ACL `NOPERM`)
    /// to `onRefusal`, from now on. Must be called on ``eventLoop``.
    func setPushHandler(
        _ onPush: @escaping (RESPValue) -> Void,
        onRefusal: @escaping (_ channels: [String], _ error: RedisError) -> Void = { _, _ in }
    ) {
        self.handler.value.onPush = onPush
        self.handler.value.onSubscriptionRefused = onRefusal
    }

    /// Why the connection closed when it closed itself: a missed deadline or a protocol error. Must be read on
    /// ``eventLoop``; `nil` while open, or when the peer or a caller closed it.
    var closeReason: RedisError? {
        self.handler.value.closeReason
    }

    /// Sends SUBSCRIBE/UNSUBSCRIBE, whose confirmations arrive as pushes, putting the connection in subscription mode.
    func sendSubscriptionCommand(_ arguments: [ByteBuffer]) {
        self.channel.writeAndFlush(RedisRequest.subscription(arguments), promise: nil)
    }
}
