import Logging
import NIOCore

/// What ``RedisCommandHandler`` accepts on its outbound side.
enum RedisRequest: Sendable {
    /// A command with exactly one reply, which completes the promise.
    case command([ByteBuffer], EventLoopPromise<RESPValue>)
    /// SUBSCRIBE/UNSUBSCRIBE (or the sharded SSUBSCRIBE/SUNSUBSCRIBE): the replies arrive as pushes.
    /// Puts the connection into subscription mode.
    case subscription([ByteBuffer])
}

/// Encodes requests with hiredis, pipelines them, and completes each one's promise with its reply in FIFO order.
///
/// Every request has a deadline (``RedisConfiguration/commandTimeout``): one missed closes the connection and
/// fails everything pending with ``RedisError/timeout(_:)``. A connection that has heard nothing for
/// ``RedisConfiguration/keepaliveInterval`` sends `PING` and expects an answer in time, so a Redis that stopped
/// answering (paused, SIGSTOPped, a half-open TCP connection) is noticed on idle connections too.
///
/// In subscription mode the replies that answer no request go to `onPush`, and a SUBSCRIBE that Redis refused
/// (e.g. ACL `NOPERM`) to `onSubscriptionRefused`.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var stateMachine: RedisConnectionStateMachine<EventLoopPromise<RESPValue>>
    private var closeError: RedisError = .connectionClosed
    private let logger: Logger
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    /// Receives pub/sub pushes, on the channel's event loop.
    var onPush: ((RESPValue) -> Void)?
    /// Receives the channels of a SUBSCRIBE that Redis answered with an error, on the channel's event loop.
    var onSubscriptionRefused: (([String], RedisError) -> Void)?

    /// Why the connection closed, when it was closed for a reason of its own (a missed deadline, a protocol error).
    private(set) var closeReason: RedisError?

    init(configuration: RedisConfiguration = RedisConfiguration(), logger: Logger) {
        self.stateMachine = RedisConnectionStateMachine(
            commandTimeout: configuration.commandTimeout,
            keepaliveInterval: configuration.keepaliveInterval,
            maxPending: configuration.maxPendingCommands
        )
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.start(context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        self.stateMachine.connected(now: context.eventLoop.now)
        self.armTimer(context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        let arguments: [ByteBuffer]
        let now = context.eventLoop.now
        switch request {
        case .command(let commandArguments, let replyPromise):
            switch self.stateMachine.sendCommand(replyPromise, now: now) {
            case .write:
                arguments = commandArguments
            case .fail(let error):
                replyPromise.fail(error)
                promise?.fail(error)
                return
            }
        case .subscription(let subscriptionArguments):
            let name = subscriptionArguments.first.map { String(buffer: $0).uppercased() }
            let channels = subscriptionArguments.dropFirst().map { String(buffer: $0) }
            let command: RedisConnectionStateMachine<EventLoopPromise<RESPValue>>.SubscriptionCommand =
                name == "SUBSCRIBE" || name == "SSUBSCRIBE" ? .subscribe : .unsubscribe
            switch self.stateMachine.sendSubscriptionCommand(command, channels: channels, now: now) {
            case .write:
                arguments = subscriptionArguments
            case .fail(let error):
                promise?.fail(error)
                return
            }
        }
        self.write(arguments, context: context, promise: promise)
        self.armTimer(context: context)
    }

    private func write(_ arguments: [ByteBuffer], context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        var buffer = context.channel.allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.readableBytes + 16 })
        RESPCommandEncoder.encode(arguments, into: &buffer)
        context.write(Self.wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = Self.unwrapInboundIn(data)
        switch self.stateMachine.receive(reply, now: context.eventLoop.now) {
        case .succeed(let promise, let value):
            promise.succeed(value)
        case .fail(let promise, let error):
            promise.fail(error)
        case .push(let value):
            self.onPush?(value)
        case .subscriptionRefused(let channels, let error):
            self.onSubscriptionRefused?(channels, error)
        case .closeConnection(let error):
            self.logger.error("Closing Redis connection", metadata: ["error": "\(error)"])
            self.closeReason = error
            self.failAll(error)
            context.fireErrorCaught(error)
            context.close(promise: nil)
        case .ignore:
            break
        }
        if self.stateMachine.isIdle {
            // The keepalive clock now runs from this reply, possibly before the timer armed for the last deadline.
            self.armTimer(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let redisError = error as? RedisError {
            self.logger.error("Closing Redis connection", metadata: ["error": "\(redisError)"])
            self.closeError = redisError
            self.closeReason = self.closeReason ?? redisError
        } else {
            self.logger.debug("Redis connection error", metadata: ["error": "\(error)"])
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelTimer()
        self.failAll(self.closeError)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
        self.failAll(.connectionClosed)
        self.onPush = nil
        self.onSubscriptionRefused = nil
    }

    /// Makes sure a timer fires no later than the state machine's next wakeup. Cheap when one already does.
    private func armTimer(context: ChannelHandlerContext) {
        guard let wakeup = self.stateMachine.nextWakeup else {
            self.cancelTimer()
            return
        }
        if let armed = self.timerDeadline, armed <= wakeup { return }
        self.timer?.cancel()
        self.timerDeadline = wakeup
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: wakeup) { [weak self] in
            self?.timerFired(context: context)
        }
    }

    private func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
    }

    private func timerFired(context: ChannelHandlerContext) {
        self.timer = nil
        self.timerDeadline = nil
        switch self.stateMachine.tick(now: context.eventLoop.now) {
        case .none:
            break
        case .sendKeepalive:
            self.logger.trace("Sending keepalive PING to Redis")
            self.write([ByteBuffer(string: "PING")], context: context, promise: nil)
            context.flush()
        case .closeConnection(let error):
            self.logger.warning("Redis missed a deadline; closing the connection to reconnect", metadata: ["error": "\(error)"])
            self.closeReason = error
            self.closeError = error
            self.failAll(error)
            context.close(promise: nil)
            return
        }
        self.armTimer(context: context)
    }

    private func failAll(_ error: RedisError) {
        for promise in self.stateMachine.close(error: error) {
            promise.fail(error)
        }
    }
}
