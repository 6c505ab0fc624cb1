import NIOCore
import NIOHTTP1

/// Sends the WebSocket upgrade request (`GET <path>` with `Host`) as soon as the TCP connection
/// is up; NIO's client upgrader adds the `Upgrade`, `Connection` and `Sec-WebSocket-*` headers and
/// removes this handler with the HTTP codec once the server answers 101. A refusal (401, 503…)
/// closes the connection, which the fleet counts as a failed attempt.
final class UpgradeRequestWriter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

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
        // Only reached when the server answered without upgrading.
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
