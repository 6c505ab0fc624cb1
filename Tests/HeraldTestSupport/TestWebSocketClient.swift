import NIOCore
import NIOPosix
import NIOWebSocket

/// One WebSocket client connection for integration tests, over a real socket.
///
/// ```swift
/// let client = try await TestWebSocketClient.connect(port: port, path: "/ws?token=\(token)")
/// try await client.sendText(#"{"type":"subscribe","channel":"news"}"#)
/// let reply = try await client.receive()
/// #expect(reply.json?["type"] as? String == "subscribed")
/// await client.close()
/// ```
///
/// All methods may be called from any task; each one hops to the connection's event loop. Messages are delivered
/// in the order they arrived. Every wait is bounded by a timeout. The connection is closed when the client is
/// deinitialised, but tests should still call ``close(code:)``.
public final class TestWebSocketClient: Sendable {
    /// The `Sec-WebSocket-Protocol` the server selected in its `101` response, if any.
    public let selectedSubprotocol: String?
    /// All headers of the server's `101` response, in order.
    public let upgradeResponseHeaders: [(String, String)]

    private let channel: any Channel
    private let handler: NIOLoopBound<TestWebSocketFrameHandler>

    private init(channel: any Channel, handshake: TestWebSocketHandshakeResult) {
        self.channel = channel
        self.handler = handshake.frameHandler
        self.upgradeResponseHeaders = handshake.responseHeaders
        self.selectedSubprotocol =
            handshake.responseHeaders.first { $0.0.lowercased() == "sec-websocket-protocol" }?.1
    }

    deinit {
        self.channel.close(promise: nil)
    }

    /// Connects to `host:port` and performs the WebSocket upgrade for `path`.
    ///
    /// - Parameters:
    ///   - host: The server's address.
    ///   - port: The server's port.
    ///   - path: The request target, which may include a query, e.g. `"/ws?token=abc"`.
    ///   - headers: Extra request headers, e.g. `Authorization`, `Origin`, `Sec-WebSocket-Protocol`. A header named
    ///     like one the client sends itself (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    ///     `Sec-WebSocket-Version`) replaces it.
    ///   - group: The event loop group to use; `MultiThreadedEventLoopGroup.singleton` when `nil`.
    ///   - timeout: Bounds the TCP connect plus the whole handshake.
    ///   - maxFrameSize: The largest frame, and the largest aggregated fragmented message, accepted from the server.
    ///   - receiveBufferSize: When given, `SO_RCVBUF` is set to it before connecting.
    /// - Returns: The connected client, once the server answered `101` with a valid `Sec-WebSocket-Accept`.
    /// - Throws: ``HTTPRefusal`` (with the full body) for any other status; ``TestWebSocketClientError`` with code
    ///   `.timedOut` or `.handshakeFailed`; or the socket error (e.g. connection refused).
    public static func connect(
        host: String = "127.0.0.1",
        port: Int,
        path: String,
        headers: [(String, String)] = [],
        group: (any EventLoopGroup)? = nil,
        timeout: Duration = .seconds(5),
        maxFrameSize: Int = 1 << 24,
        receiveBufferSize: Int? = nil
    ) async throws -> TestWebSocketClient {
        let eventLoop = (group ?? MultiThreadedEventLoopGroup.singleton).next()
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let request = TestWebSocketHandshakeHandler.Request(
            host: host,
            port: port,
            path: path,
            headers: headers
        )
        let handshake = eventLoop.makePromise(of: TestWebSocketHandshakeResult.self)

        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        if let receiveBufferSize {
            bootstrap = bootstrap.channelOption(
                ChannelOptions.socketOption(.so_rcvbuf),
                value: SocketOptionValue(receiveBufferSize)
            )
        }
        bootstrap = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let frameHandler = TestWebSocketFrameHandler(eventLoop: channel.eventLoop)
                try channel.pipeline.syncOperations.addHandlers(
                    TestWebSocketHandshakeHandler(
                        request: request,
                        frameHandler: frameHandler,
                        deadline: deadline,
                        promise: handshake
                    ),
                    WebSocketFrameEncoder(),
                    ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)),
                    NIOWebSocketFrameAggregator(
                        minNonFinalFragmentSize: 0,
                        maxAccumulatedFrameCount: .max,
                        maxAccumulatedFrameSize: maxFrameSize
                    ),
                    frameHandler
                )
            }
        }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            handshake.fail(error)
            if case ChannelError.connectTimeout(let amount) = error {
                throw TestWebSocketClientError(.timedOut, "TCP connect to \(host):\(port) timed out after \(amount)")
            }
            throw error
        }
        let result = try await handshake.futureResult.get()
        return TestWebSocketClient(channel: channel, handshake: result)
    }

    /// Whether the TCP connection has ended (after a close handshake, or abruptly).
    public var isClosed: Bool {
        !self.channel.isActive
    }

    /// Sends one text frame.
    public func sendText(_ text: String) async throws {
        try await self.sendFrame(opcode: .text, data: Array(text.utf8))
    }

    /// Sends one binary frame.
    public func sendBinary(_ bytes: [UInt8]) async throws {
        try await self.sendFrame(opcode: .binary, data: bytes)
    }

    /// Sends one masked frame as given, e.g. a ping, a fragment (`fin: false`, then `.continuation`), or a close.
    /// Nothing is validated, so tests can also send frames a server must reject.
    public func sendFrame(opcode: WebSocketOpcode, data: [UInt8], fin: Bool = true, rsv1: Bool = false, masked: Bool = true) async throws {
        let handler = self.handler
        try await self.channel.eventLoop.flatSubmit {
            handler.value.send(opcode: opcode, data: data, fin: fin, rsv1: rsv1, masked: masked)
        }.get()
    }

    /// The next message. Pings from the server are answered automatically and not returned; pongs are returned.
    /// A close frame from the server is returned as `.close` (and answered); after that, once nothing is buffered,
    /// this throws `.connectionClosed`.
    ///
    /// - Throws: ``TestWebSocketClientError`` `.timedOut` when nothing arrives within `timeout`,
    ///   `.connectionClosed` or `.protocolViolation` when the connection has ended and nothing is buffered.
    public func receive(timeout: Duration = .seconds(5)) async throws -> TestWebSocketMessage {
        let handler = self.handler
        let amount = TimeAmount(timeout)
        return try await self.channel.eventLoop.flatSubmit {
            handler.value.receive(timeout: amount)
        }.get()
    }

    /// The next message, which must be text.
    ///
    /// - Throws: as ``receive(timeout:)``, or `.unexpectedMessage` for any other kind of message.
    public func receiveText(timeout: Duration = .seconds(5)) async throws -> String {
        let message = try await self.receive(timeout: timeout)
        guard case .text(let text) = message else {
            throw TestWebSocketClientError(.unexpectedMessage, "expected a text message, received \(message)")
        }
        return text
    }

    /// The next message, which must be text holding a JSON object (see ``TestWebSocketMessage/json``).
    ///
    /// - Throws: as ``receive(timeout:)``, or `.unexpectedMessage` for anything else.
    public func receiveJSON(timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        let message = try await self.receive(timeout: timeout)
        guard let object = message.json else {
            throw TestWebSocketClientError(.unexpectedMessage, "expected a JSON object, received \(message)")
        }
        return object
    }

    /// Receives until no message arrives within `quiet` (or the connection has ended) and returns everything,
    /// for "receives nothing" and "exactly once" assertions. Stops after `limit` in any case.
    public func drain(quiet: Duration = .milliseconds(300), limit: Duration = .seconds(30)) async -> [TestWebSocketMessage] {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: limit)
        var messages: [TestWebSocketMessage] = []
        while clock.now < end, let message = try? await self.receive(timeout: quiet) {
            messages.append(message)
        }
        return messages
    }

    /// Waits until the connection has ended.
    ///
    /// - Returns: The code of the server's close frame (1005 if the frame carried none), or `nil` when the TCP
    ///   connection ended without a close frame.
    /// - Throws: ``TestWebSocketClientError`` `.timedOut` when the connection is still open after `timeout`.
    public func waitForClose(timeout: Duration = .seconds(5)) async throws -> UInt16? {
        let handler = self.handler
        let amount = TimeAmount(timeout)
        return try await self.channel.eventLoop.flatSubmit {
            handler.value.waitForClose(timeout: amount)
        }.get()
    }

    /// Stops reading from the socket entirely (autoRead off, no `read()` calls), so the server sees a slow consumer
    /// whose TCP window fills up. Frames already read are still delivered.
    public func stopReading() async {
        let handler = self.handler
        try? await self.channel.eventLoop.submit { handler.value.pauseReading() }.get()
    }

    /// Reads from the socket again after ``stopReading()``.
    public func resumeReading() async {
        let handler = self.handler
        try? await self.channel.eventLoop.submit { handler.value.resumeReading() }.get()
    }

    /// Sends a close frame with `code` (unless one was sent already), waits up to one second for the server to
    /// finish the close handshake, then closes the connection. Never throws; does nothing when already closed.
    public func close(code: UInt16 = 1000) async {
        let handler = self.handler
        try? await self.channel.eventLoop.flatSubmit {
            handler.value.close(code: code, grace: .seconds(1))
        }.get()
        try? await self.channel.close()
    }
}
