import NIOCore
import NIOHTTP1

/// Sends the WebSocket upgrade request (`GET <path>` with `Host`) as soon as the TCP connection
/// is up; NIO's client upgrader adds the `Upgrade`, `Connection` and `Sec-WebSocket-*` headers and
/// the fleet removes this handler once the server answered 101. Reads pass through untouched
/// (the WebSocket bytes that arrive with the 101 are forwarded through here before the removal
/// lands). A refused upgrade (401, 503…) reaches ``errorCaught`` and closes the connection, which
/// the fleet counts as a failed attempt.
final class UpgradeRequestWriter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPClientRequestPart

    /// The handler's name in the pipeline (removed by name once upgraded).
    static let name = "swarm.upgrade-request"

    private let path: String
    private let host: String

    init(path: String, host: String) {
        self.path = path
        self.host = host
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
