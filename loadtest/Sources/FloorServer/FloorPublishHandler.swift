import NIOCore
import NIOHTTP1

/// Plain HTTP on the floor server: `POST /pub/{key}` broadcasts the body (through the relay) and
/// answers 200 `{"ok":true}`; anything else is 404. Keep-alive is honoured.
final class FloorPublishHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: SubscriberRegistry
    private let relay: any FloorRelay
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?

    init(registry: SubscriberRegistry, relay: any FloorRelay) {
        self.registry = registry
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = nil
        case .body(var chunk):
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let head else { return }
            self.head = nil
            if head.method == .POST, head.uri.hasPrefix("/pub/") {
                let key = String(head.uri.dropFirst("/pub/".count))
                for delivery in relay.deliveries(key: key, body: body ?? ByteBuffer()) {
                    registry.broadcast(delivery, key: key)
                }
                respond(context: context, status: .ok, text: #"{"ok":true}"#, keepAlive: head.isKeepAlive)
            } else {
                respond(context: context, status: .notFound, text: #"{"error":"not_found"}"#, keepAlive: head.isKeepAlive)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, text: String, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { bound.value.close(promise: nil) }
        }
    }
}
