import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A JWKS endpoint on a free loopback port for tests: serves whatever document it currently
/// holds at `/jwks.json` with an optional `Cache-Control`, can be switched to failing (500), and
/// counts the requests it answered, so a test can rotate keys and bound the fetches a node makes.
///
/// ```swift
/// let server = try await JWKSTestServer.start(document: #"{"keys":[…]}"#, cacheControl: "max-age=1")
/// configuration.authentication.jwksURL = server.url
/// server.document = #"{"keys":[…rotated…]}"#
/// #expect(server.requestCount <= 2)
/// try await server.stop()
/// ```
public final class JWKSTestServer: @unchecked Sendable {
    private struct State {
        var document: String
        var cacheControl: String?
        var failing = false
        var requests = 0
    }

    private let lock = NSLock()
    private var state: State
    private var channel: (any Channel)?

    /// `http://127.0.0.1:<port>/jwks.json`.
    public private(set) var url = ""

    private init(document: String, cacheControl: String?) {
        self.state = State(document: document, cacheControl: cacheControl)
    }

    /// Starts serving `document` on 127.0.0.1, port 0.
    public static func start(document: String, cacheControl: String? = nil) async throws -> JWKSTestServer {
        let server = JWKSTestServer(document: document, cacheControl: cacheControl)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(server: server))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        server.channel = channel
        server.url = "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/jwks.json"
        return server
    }

    /// The JWKS document served from now on.
    public var document: String {
        get { lock.withLock { state.document } }
        set { lock.withLock { state.document = newValue } }
    }

    /// The `Cache-Control` header sent with it; nil sends none.
    public var cacheControl: String? {
        get { lock.withLock { state.cacheControl } }
        set { lock.withLock { state.cacheControl = newValue } }
    }

    /// When true, every request is answered 500.
    public var failing: Bool {
        get { lock.withLock { state.failing } }
        set { lock.withLock { state.failing = newValue } }
    }

    /// Requests answered so far (good or failing).
    public var requestCount: Int { lock.withLock { state.requests } }

    public func stop() async throws {
        try await channel?.close()
    }

    fileprivate func answer() -> (status: HTTPResponseStatus, body: String, cacheControl: String?) {
        lock.withLock {
            state.requests += 1
            return state.failing ? (.internalServerError, "{}", nil) : (.ok, state.document, state.cacheControl)
        }
    }

    private final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private let server: JWKSTestServer

        init(server: JWKSTestServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let (status, body, cacheControl) = server.answer()
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
            if let cacheControl { headers.add(name: "cache-control", value: cacheControl) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
