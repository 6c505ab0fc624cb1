import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A one-request-per-connection HTTP/1.1 client for tests over a real socket.
public enum TestHTTPClient {
    /// A complete response.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String

        /// The body parsed as a JSON object, or nil.
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    /// Sends one request to 127.0.0.1:`port` and returns the response; bounded by `timeout`.
    public static func request(
        _ method: HTTPMethod, port: Int, path: String, headers: [(String, String)] = [], body: String? = nil,
        timeout: TimeAmount = .seconds(10)
    ) async throws -> Response {
        try await request(method, port: port, path: path, headers: headers, bodyBytes: body.map { Array($0.utf8) }, timeout: timeout)
    }

    /// Sends one request whose body is raw bytes (which need not be valid UTF-8). With
    /// `headOnly`, only the head goes out (its headers may announce a body that never comes).
    public static func request(
        _ method: HTTPMethod, port: Int, path: String, headers: [(String, String)] = [], bodyBytes body: [UInt8]?,
        headOnly: Bool = false, timeout: TimeAmount = .seconds(10)
    ) async throws -> Response {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Response.self)
        let connecting = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port)
        let channel: Channel
        do {
            channel = try await connecting.get()
        } catch {
            promise.fail(error)
            throw error
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "content-length", value: String(body.count)) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if headOnly {
            channel.flush()
        } else {
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private let promise: EventLoopPromise<Response>
        private var head: HTTPResponseHead?
        private var body = ByteBuffer()
        private var done = false

        init(promise: EventLoopPromise<Response>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end:
                guard let head, !done else { return }
                done = true
                promise.succeed(Response(
                    status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) },
                    body: String(buffer: body)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            guard !done else { return }
            done = true
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
