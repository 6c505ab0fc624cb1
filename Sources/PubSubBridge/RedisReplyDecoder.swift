import NIOCore

/// Turns inbound bytes into ``RESPValue`` replies by feeding them to hiredis's reader.
///
/// hiredis buffers partial replies itself, so this handler keeps no buffer of its own.
/// Unparseable input is fired as a ``RedisError`` and closes the channel.
final class RedisReplyDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RESPValue

    private var reader: RESPReader?
    private var failed = false

    init() {}

    func handlerAdded(context: ChannelHandlerContext) {
        self.reader = RESPReader(allocator: context.channel.allocator)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.reader = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed, let reader = self.reader else { return }
        let bytes = Self.unwrapInboundIn(data)
        do {
            try reader.feed(bytes)
            while let reply = try reader.next() {
                context.fireChannelRead(Self.wrapInboundOut(reply))
            }
        } catch {
            self.failed = true
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }
}
