import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP backend on a free loopback port for the HTTP upstream tests: it checks each
/// request's `X-Herald-Signature` against the shared secret, records the request, and answers as
/// `respond` says (a status and body, possibly after a delay).
final class LoopbackHTTPBackend: Sendable {
    struct Request: Sendable {
        var body: [UInt8]
        var signatureValid: Bool
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    }

    struct Answer: Sendable {
        var status: HTTPResponseStatus = .ok
        var body: String = ""
        var delay: TimeAmount = .zero
    }

    /// Requests received but not yet answered, and the most there ever were at once.
    struct Load: Sendable {
        var outstanding = 0
        var peak = 0
    }

    let port: Int
    private let channel: any Channel
    private let recorded: NIOLockedValueBox<[Request]>
    private let load: NIOLockedValueBox<Load>

    private init(port: Int, channel: any Channel, recorded: NIOLockedValueBox<[Request]>, load: NIOLockedValueBox<Load>) {
        self.port = port
        self.channel = channel
        self.recorded = recorded
        self.load = load
    }

    var requests: [Request] { recorded.withLockedValue { $0 } }
    var peakOutstanding: Int { load.withLockedValue { $0.peak } }

    static func start(secret: String, respond: @escaping @Sendable (Request) -> Answer) async throws -> LoopbackHTTPBackend {
        let recorded = NIOLockedValueBox<[Request]>([])
        let load = NIOLockedValueBox(Load())
        let key = SymmetricKey(data: Array(secret.utf8))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(key: key, recorded: recorded, load: load, respond: respond))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoopbackHTTPBackend(port: channel.localAddress?.port ?? 0, channel: channel, recorded: recorded, load: load)
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let key: SymmetricKey
        let recorded: NIOLockedValueBox<[Request]>
        let load: NIOLockedValueBox<Load>
        let respond: @Sendable (Request) -> Answer
        var signature: String?
        var body: [UInt8] = []

        init(
            key: SymmetricKey, recorded: NIOLockedValueBox<[Request]>, load: NIOLockedValueBox<Load>,
            respond: @escaping @Sendable (Request) -> Answer
        ) {
            self.key = key
            self.recorded = recorded
            self.load = load
            self.respond = respond
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                signature = head.headers["x-herald-signature"].first
                body = []
            case .body(let buffer):
                body += buffer.readableBytesView
            case .end:
                let expected = "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: key).map { String(format: "%02x", $0) }.joined()
                let request = Request(body: body, signatureValid: signature == expected)
                recorded.withLockedValue { $0.append(request) }
                load.withLockedValue { load in
                    load.outstanding += 1
                    load.peak = max(load.peak, load.outstanding)
                }
                let answer = request.signatureValid ? respond(request) : Answer(status: .unauthorized, body: "")
                let loop = context.eventLoop
                let bound = NIOLoopBound(context, eventLoop: loop)
                loop.scheduleTask(in: answer.delay) {
                    let context = bound.value
                    var head = HTTPResponseHead(version: .http1_1, status: answer.status)
                    head.headers.add(name: "content-length", value: String(answer.body.utf8.count))
                    head.headers.add(name: "content-type", value: "application/json")
                    context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
                    self.load.withLockedValue { $0.outstanding -= 1 }
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}
