import NIOCore
import NIOWebSocket

/// What a successful handshake hands to ``TestWebSocketClient``.
struct TestWebSocketHandshakeResult: Sendable {
    let frameHandler: NIOLoopBound<TestWebSocketFrameHandler>
    let responseHeaders: [(String, String)]
}

/// Sends the HTTP/1.1 upgrade request and reads the response from raw bytes.
///
/// It sits first in a pipeline that already holds the WebSocket handlers behind it, and holds back every byte until
/// the response is complete. On a valid `101` it passes the bytes that followed the head (e.g. frames the server
/// sent at once) on to the frame decoder and removes itself, all synchronously, so nothing is lost even when the
/// server closes right away. On any other status it reads the whole response and fails with ``HTTPRefusal``.
final class TestWebSocketHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The request to send.
    struct Request: Sendable {
        var host: String
        var port: Int
        var path: String
        /// Extra headers; one named like a default header (Host, Upgrade, Connection, Sec-WebSocket-Key,
        /// Sec-WebSocket-Version) replaces that default.
        var headers: [(String, String)]
    }

    private enum State {
        case idle
        case awaitingResponse
        case upgraded
        case failed
    }

    private let request: Request
    private let frameHandler: TestWebSocketFrameHandler
    private let deadline: NIODeadline
    private let promise: EventLoopPromise<TestWebSocketHandshakeResult>
    private var parser = TestWebSocketHTTPResponseParser()
    private var state: State = .idle
    private var timeout: Scheduled<Void>?
    private var key: String = ""

    /// - Parameters:
    ///   - request: What to send.
    ///   - frameHandler: The frame handler further down the pipeline, handed out on success.
    ///   - deadline: When the handshake fails with a timeout if no full response has arrived.
    ///   - promise: Completed exactly once with the outcome.
    init(
        request: Request,
        frameHandler: TestWebSocketFrameHandler,
        deadline: NIODeadline,
        promise: EventLoopPromise<TestWebSocketHandshakeResult>
    ) {
        self.request = request
        self.frameHandler = frameHandler
        self.deadline = deadline
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.sendRequest(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.fail(context: context, TestWebSocketClientError(.handshakeFailed, "handshake handler removed before completion"))
    }

    func channelActive(context: ChannelHandlerContext) {
        self.sendRequest(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .awaitingResponse = self.state {
            do {
                self.handle(try self.parser.feedEOF(), context: context)
            } catch {
                self.fail(context: context, error)
            }
        }
        self.fail(context: context, TestWebSocketClientError(.handshakeFailed, "connection closed during the handshake"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if case .upgraded = self.state {
            context.fireErrorCaught(error)
        } else {
            self.fail(context: context, error)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.state {
        case .upgraded:
            context.fireChannelRead(data)
        case .failed, .idle:
            return
        case .awaitingResponse:
            do {
                self.handle(try self.parser.feed(Self.unwrapInboundIn(data)), context: context)
            } catch {
                self.fail(context: context, error)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .upgraded = self.state {
            context.fireChannelReadComplete()
        }
    }

    private func handle(_ outcome: TestWebSocketHTTPResponseParser.Outcome, context: ChannelHandlerContext) {
        switch outcome {
        case .needMoreData:
            return
        case .refused(let refusal):
            self.fail(context: context, refusal)
        case .switchingProtocols(let headers, let leftover):
            self.upgrade(context: context, headers: headers, leftover: leftover)
        }
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard case .idle = self.state else { return }
        self.state = .awaitingResponse

        let hostHeader = self.request.host.contains(":") ? "[\(self.request.host)]" : self.request.host
        let defaults: [(String, String)] = [
            ("Host", "\(hostHeader):\(self.request.port)"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", TestWebSocketHandshakeKey.random().key),
            ("Sec-WebSocket-Version", "13"),
        ]
        let overridden = Set(self.request.headers.map { $0.0.lowercased() })
        let headers = defaults.filter { !overridden.contains($0.0.lowercased()) } + self.request.headers
        self.key = headers.first { $0.0.lowercased() == "sec-websocket-key" }?.1 ?? ""

        var text = "GET \(self.request.path) HTTP/1.1\r\n"
        for (name, value) in headers {
            text += "\(name): \(value)\r\n"
        }
        text += "\r\n"

        self.timeout = context.eventLoop.assumeIsolated().scheduleTask(deadline: self.deadline) {
            self.fail(
                context: context,
                TestWebSocketClientError(.timedOut, "no complete handshake response before the deadline")
            )
        }
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    private func upgrade(context: ChannelHandlerContext, headers: [(String, String)], leftover: ByteBuffer) {
        func values(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name }.map { $0.1 }
        }
        let expected = TestWebSocketHandshakeKey(key: self.key).expectedAccept
        let accept = values("sec-websocket-accept").first
        guard accept == expected else {
            return self.fail(
                context: context,
                TestWebSocketClientError(
                    .handshakeFailed,
                    "Sec-WebSocket-Accept is \(accept ?? "missing"), expected \(expected)"
                )
            )
        }
        let upgradeIsWebSocket = values("upgrade").contains { $0.lowercased() == "websocket" }
        let connectionIsUpgrade = values("connection").contains { value in
            value.split(separator: ",").contains { $0.trimmingPrefix(" ").lowercased() == "upgrade" }
        }
        guard upgradeIsWebSocket, connectionIsUpgrade else {
            return self.fail(
                context: context,
                TestWebSocketClientError(.handshakeFailed, "101 without Upgrade: websocket and Connection: Upgrade")
            )
        }

        self.state = .upgraded
        self.timeout?.cancel()
        self.timeout = nil
        self.promise.succeed(
            TestWebSocketHandshakeResult(
                frameHandler: NIOLoopBound(self.frameHandler, eventLoop: context.eventLoop),
                responseHeaders: headers
            )
        )
        if leftover.readableBytes > 0 {
            context.fireChannelRead(Self.wrapInboundOut(leftover))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: Error) {
        switch self.state {
        case .upgraded, .failed:
            return
        case .idle, .awaitingResponse:
            self.state = .failed
        }
        self.timeout?.cancel()
        self.timeout = nil
        self.promise.fail(error)
        context.close(promise: nil)
    }
}
