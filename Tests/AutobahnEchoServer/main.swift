// A WebSocket echo server for the Autobahn|Testsuite fuzzing client, built from the same frame
// pipeline as Herald's connections (WebSocketFramePipeline), so the suite checks what clients meet.
// Test-only: see docs/reliability.md for the command that runs the suite against it.
//   autobahn-echo-server [port]   (listens on 127.0.0.1, default 9001)
import EdgeNode
import HeraldProtocol
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Echoes text and binary messages, answers pings, and ends the connection with the close code a
/// protocol violation calls for.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            guard !closing else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)), promise: nil)
        case .ping:
            guard !closing else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            let body = frame.unmaskedData
            let code = body.getInteger(at: body.readerIndex, as: UInt16.self) ?? CloseCode.normal.rawValue
            close(context: context, code: CloseCode(rawValue: code))
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let violation as WebSocketFrameValidator.Violation:
            close(context: context, code: violation.closeCode)
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketError.invalidFrameLength:
            close(context: context, code: .messageTooBig)
        default:
            close(context: context, code: .protocolError)
        }
    }

    private func close(context: ChannelHandlerContext, code: CloseCode) {
        guard !closing else { return }
        closing = true
        var body = context.channel.allocator.buffer(capacity: 2)
        body.writeInteger(code.rawValue)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: body))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 9001
let maxMessageBytes = 20 * 1024 * 1024
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxMessageBytes, automaticErrorHandling: false,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try WebSocketFramePipeline.addHandlers(
                        to: channel.pipeline.syncOperations, maxMessageBytes: maxMessageBytes, maxFragments: 1 << 20)
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            })
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
try server.closeFuture.wait()
