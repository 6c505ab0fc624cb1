import NIOCore
import NIOPosix

/// Publishes over one pipelined Redis connection: `PUBLISH <channel> <event>` or
/// `FCALL herald_publish 1 herald:{A} <event>`. One connection keeps every account's events in
/// order; replies come back in order, so the oldest in-flight event is the one each reply is for.
///
/// Confined to the publisher event loop (hence `@unchecked Sendable`: every entry point runs there).
final class RedisEventSink: EventSink, @unchecked Sendable {
    enum Command: Sendable {
        case publish(channelTemplate: String)
        case function
    }

    private let endpoint: Endpoint
    private let command: Command
    private let loop: any EventLoop
    private let encoder: EventEncoder
    private let ledger: PublishLedger
    private let maxInFlight: Int
    private var channel: Channel?
    private var inFlight = CircularBuffer<PendingEvent>()

    init(endpoint: Endpoint, command: Command, loop: any EventLoop, encoder: EventEncoder, ledger: PublishLedger, maxInFlight: Int = 20_000) {
        self.endpoint = endpoint
        self.command = command
        self.loop = loop
        self.encoder = encoder
        self.ledger = ledger
        self.maxInFlight = maxInFlight
    }

    func start() -> EventLoopFuture<Void> {
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPReplyHandler { reply in self.replied(reply) })
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .map { channel in
                self.channel = channel
                channel.closeFuture.whenComplete { _ in self.connectionLost() }
            }
    }

    var canAccept: Bool { channel != nil && inFlight.count < maxInFlight }
    var backlog: Int { inFlight.count }

    func submit(_ event: PendingEvent) {
        loop.preconditionInEventLoop()
        guard let channel else {
            ledger.recordFailure(account: event.account, sequence: event.sequence)
            return
        }
        let account = encoder.accountName(event.account)
        let arguments: [String]
        switch command {
        case .publish(let template):
            arguments = ["PUBLISH", template.replacingOccurrences(of: "{account}", with: account), encoder.event(event)]
        case .function:
            arguments = ["FCALL", "herald_publish", "1", "herald:{\(account)}", encoder.event(event)]
        }
        var buffer = channel.allocator.buffer(capacity: encoder.eventBytes + 64)
        RESPReply.writeCommand(arguments, into: &buffer)
        inFlight.append(event)
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func replied(_ reply: RESPReply) {
        guard let event = inFlight.popFirst() else { return }
        if case .error = reply { ledger.recordFailure(account: event.account, sequence: event.sequence) }
    }

    private func connectionLost() {
        channel = nil
        while let event = inFlight.popFirst() { ledger.recordFailure(account: event.account, sequence: event.sequence) }
    }

    func stop() -> EventLoopFuture<Void> {
        guard let channel else { return loop.makeSucceededVoidFuture() }
        return channel.close().recover { _ in }
    }
}

/// Splits the Redis connection's bytes into replies.
final class RESPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let onReply: (RESPReply) -> Void
    private var pending: ByteBuffer?

    init(onReply: @escaping (RESPReply) -> Void) {
        self.onReply = onReply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending == nil { pending = incoming } else { pending!.writeBuffer(&incoming) }
        while var buffer = pending, let reply = RESPReply.read(from: &buffer) {
            pending = buffer.readableBytes > 0 ? buffer : nil
            onReply(reply)
        }
    }
}
