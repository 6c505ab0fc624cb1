import Logging
import NIOCore

/// What ``RedisCommandHandler`` accepts on its outbound side.
enum RedisRequest: Sendable {
    /// A command with exactly one reply, which completes the promise.
    case command([ByteBuffer], EventLoopPromise<RESPValue>)
    /// SUBSCRIBE/UNSUBSCRIBE: the replies arrive as pushes. Puts the connection into subscription mode.
    case subscription([ByteBuffer])
}

/// Encodes requests with hiredis, pipelines them, and completes each one's promise with its reply in FIFO order.
///
/// In subscription mode the replies that answer no request go to `onPush`.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var stateMachine = RedisConnectionStateMachine<EventLoopPromise<RESPValue>>()
    private var closeError: RedisError = .connectionClosed
    private let logger: Logger

    /// Receives pub/sub pushes, on the channel's event loop.
    var onPush: ((RESPValue) -> Void)?

    init(logger: Logger) {
        self.logger = logger
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        let arguments: [ByteBuffer]
        switch request {
        case .command(let commandArguments, let replyPromise):
            switch self.stateMachine.sendCommand(replyPromise) {
            case .write:
                arguments = commandArguments
            case .fail(let error):
                replyPromise.fail(error)
                promise?.fail(error)
                return
            }
        case .subscription(let subscriptionArguments):
            switch self.stateMachine.sendSubscriptionCommand() {
            case .write:
                arguments = subscriptionArguments
            case .fail(let error):
                promise?.fail(error)
                return
            }
        }
        var buffer = context.channel.allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.readableBytes + 16 })
        RESPCommandEncoder.encode(arguments, into: &buffer)
        context.write(Self.wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = Self.unwrapInboundIn(data)
        switch self.stateMachine.receive(reply) {
        case .succeed(let promise, let value):
            promise.succeed(value)
        case .fail(let promise, let error):
            promise.fail(error)
        case .push(let value):
            self.onPush?(value)
        case .closeConnection(let error):
            self.logger.error("Closing Redis connection", metadata: ["error": "\(error)"])
            self.failAll(error)
            context.fireErrorCaught(error)
            context.close(promise: nil)
        case .ignore:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let redisError = error as? RedisError {
            self.logger.error("Closing Redis connection", metadata: ["error": "\(redisError)"])
            self.closeError = redisError
        } else {
            self.logger.debug("Redis connection error", metadata: ["error": "\(error)"])
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(self.closeError)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed)
        self.onPush = nil
    }

    private func failAll(_ error: RedisError) {
        for promise in self.stateMachine.close(error: error) {
            promise.fail(error)
        }
    }
}
