import NIOCore
import NIOWebSocket

/// The client end of an upgraded connection: a mailbox of received messages plus the client's side of the protocol
/// (masked writes, automatic pongs, the close handshake, pausing reads).
///
/// Lives on the channel's event loop; ``TestWebSocketClient`` reaches it through `NIOLoopBound`.
/// Every waiter it hands out is completed exactly once: by a message, by the connection closing, or by its timeout.
final class TestWebSocketFrameHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private struct Waiter<Value> {
        var id: Int
        var promise: EventLoopPromise<Value>
        var timeout: Scheduled<Void>
    }

    private enum CloseFrame {
        case notReceived
        case received(code: UInt16?)
    }

    private let eventLoop: EventLoop
    private var context: ChannelHandlerContext?
    private var inbox = CircularBuffer<TestWebSocketMessage>()
    private var receivers = CircularBuffer<Waiter<TestWebSocketMessage>>()
    private var closeWaiters: [Waiter<UInt16?>] = []
    private var nextWaiterID = 0
    private var closeFrame = CloseFrame.notReceived
    private var sentClose = false
    private var channelClosed = false
    private var failure: Error?
    private var readingPaused = false
    private var closeFallback: Scheduled<Void>?

    /// - Parameter eventLoop: The event loop of the channel this handler will be added to.
    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.connectionEnded()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connectionEnded()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Decoder and aggregator errors (oversized or malformed frames): remember why, then drop the connection.
        if self.failure == nil {
            self.failure = error
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        var payload = frame.unmaskedData
        switch frame.opcode {
        case .text:
            self.deliver(.text(String(buffer: payload)))
        case .binary:
            self.deliver(.binary(payload.readBytes(length: payload.readableBytes) ?? []))
        case .pong:
            self.deliver(.pong(payload.readBytes(length: payload.readableBytes) ?? []))
        case .ping:
            if !self.sentClose {
                self.write(context: context, opcode: .pong, data: payload, fin: true, promise: nil)
            }
        case .connectionClose:
            let code = payload.readInteger(as: UInt16.self)
            let reason = payload.readString(length: payload.readableBytes) ?? ""
            if case .notReceived = self.closeFrame {
                self.closeFrame = .received(code: code)
            }
            self.deliver(.close(code: code, reason: reason))
            if self.sentClose {
                // This answers our close frame: the handshake is complete.
                context.close(promise: nil)
            } else {
                // Echo the status code (RFC 6455 5.5.1), then end the connection once it is written.
                self.sentClose = true
                var echo = context.channel.allocator.buffer(capacity: 2)
                if let code {
                    echo.writeInteger(code)
                }
                let channel = context.channel
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                self.write(context: context, opcode: .connectionClose, data: echo, fin: true, promise: written)
            }
        default:
            self.failure = TestWebSocketClientError(.protocolViolation, "received a frame with opcode \(frame.opcode)")
            context.close(promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        // While paused, nothing is read from the socket: autoRead is off and explicit reads are swallowed.
        if !self.readingPaused {
            context.read()
        }
    }

    // MARK: Operations for TestWebSocketClient (on the event loop)

    /// The next message, or a failure once `timeout` passes or the connection has ended with nothing buffered.
    func receive(timeout: TimeAmount) -> EventLoopFuture<TestWebSocketMessage> {
        let eventLoop = self.eventLoop
        if let message = self.inbox.popFirst() {
            return eventLoop.makeSucceededFuture(message)
        }
        if self.channelClosed {
            return eventLoop.makeFailedFuture(self.closedError())
        }
        let id = self.makeWaiterID()
        let promise = eventLoop.makePromise(of: TestWebSocketMessage.self)
        let scheduled = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard let index = self.receivers.firstIndex(where: { $0.id == id }) else { return }
            self.receivers.remove(at: index).promise.fail(
                TestWebSocketClientError(.timedOut, "no message within \(timeout)")
            )
        }
        self.receivers.append(Waiter(id: id, promise: promise, timeout: scheduled))
        return promise.futureResult
    }

    /// Completes when the connection has ended: with the close frame's code (1005 when the frame had none) or
    /// `nil` when there was no close frame; fails after `timeout`.
    func waitForClose(timeout: TimeAmount) -> EventLoopFuture<UInt16?> {
        let eventLoop = self.eventLoop
        if self.channelClosed {
            return eventLoop.makeSucceededFuture(self.closeCode)
        }
        let id = self.makeWaiterID()
        let promise = eventLoop.makePromise(of: UInt16?.self)
        let scheduled = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard let index = self.closeWaiters.firstIndex(where: { $0.id == id }) else { return }
            self.closeWaiters.remove(at: index).promise.fail(
                TestWebSocketClientError(.timedOut, "the connection was still open after \(timeout)")
            )
        }
        self.closeWaiters.append(Waiter(id: id, promise: promise, timeout: scheduled))
        return promise.futureResult
    }

    /// Writes one frame, masked unless told otherwise (servers must refuse unmasked ones).
    func send(opcode: WebSocketOpcode, data: [UInt8], fin: Bool, rsv1: Bool = false, masked: Bool = true) -> EventLoopFuture<Void> {
        guard let context = self.context, !self.channelClosed else {
            return self.eventLoop.makeFailedFuture(self.closedError())
        }
        if opcode == .connectionClose {
            self.sentClose = true
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.write(
            context: context,
            opcode: opcode,
            data: context.channel.allocator.buffer(bytes: data),
            fin: fin,
            rsv1: rsv1,
            masked: masked,
            promise: promise
        )
        return promise.futureResult
    }

    /// Starts the close handshake (unless a close frame was already sent) and completes once the connection has
    /// ended; closes it outright when the server has not done so within `grace`.
    func close(code: UInt16, grace: TimeAmount) -> EventLoopFuture<Void> {
        guard let context = self.context, !self.channelClosed else {
            return self.eventLoop.makeSucceededVoidFuture()
        }
        if !self.sentClose {
            self.sentClose = true
            var payload = context.channel.allocator.buffer(capacity: 2)
            payload.writeInteger(code)
            self.write(context: context, opcode: .connectionClose, data: payload, fin: true, promise: nil)
        }
        if self.closeFallback == nil {
            let channel = context.channel
            self.closeFallback = context.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        }
        return context.channel.closeFuture
    }

    /// Stops reading from the socket until ``resumeReading()``.
    func pauseReading() {
        self.readingPaused = true
        try? self.context?.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
    }

    /// Reads from the socket again.
    func resumeReading() {
        self.readingPaused = false
        try? self.context?.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        self.context?.read()
    }

    // MARK: Private

    private var closeCode: UInt16? {
        switch self.closeFrame {
        case .notReceived: return nil
        case .received(let code): return code ?? 1005
        }
    }

    private func makeWaiterID() -> Int {
        self.nextWaiterID += 1
        return self.nextWaiterID
    }

    private func closedError() -> TestWebSocketClientError {
        var detail = "the connection is closed"
        switch self.closeFrame {
        case .received(let code): detail += " (close frame with code \(code.map(String.init) ?? "none"))"
        case .notReceived: detail += " (no close frame)"
        }
        if let failure = self.failure {
            return TestWebSocketClientError(.protocolViolation, detail + " after an error: \(failure)")
        }
        return TestWebSocketClientError(.connectionClosed, detail)
    }

    private func deliver(_ message: TestWebSocketMessage) {
        if let receiver = self.receivers.popFirst() {
            receiver.timeout.cancel()
            receiver.promise.succeed(message)
        } else {
            self.inbox.append(message)
        }
    }

    private func write(
        context: ChannelHandlerContext,
        opcode: WebSocketOpcode,
        data: ByteBuffer,
        fin: Bool,
        rsv1: Bool = false,
        masked: Bool = true,
        promise: EventLoopPromise<Void>?
    ) {
        // RFC 6455 5.3: every client frame is masked with a fresh random key; the encoder applies the mask.
        let frame = WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: masked ? .random() : nil, data: data)
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: promise)
    }

    private func connectionEnded() {
        guard !self.channelClosed || !self.receivers.isEmpty || !self.closeWaiters.isEmpty else { return }
        self.channelClosed = true
        self.closeFallback?.cancel()
        self.closeFallback = nil
        let error = self.closedError()
        while let receiver = self.receivers.popFirst() {
            receiver.timeout.cancel()
            receiver.promise.fail(error)
        }
        let code = self.closeCode
        for waiter in self.closeWaiters {
            waiter.timeout.cancel()
            waiter.promise.succeed(code)
        }
        self.closeWaiters.removeAll()
    }
}
