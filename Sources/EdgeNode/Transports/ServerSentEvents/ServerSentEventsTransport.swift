import HeraldProtocol
import Logging
import NIOCore
import NIOHTTP1

/// A session's SSE stream: the `text/event-stream` response of `GET /sse`, kept open. It
/// encodes what the session writes as events (history events with `id: <offset>`), sends a
/// `: ping` comment every heartbeat, and takes the client's messages from the `POST`s that name
/// its connection (``deliver(_:identity:)``), answering each with its reply.
///
/// Events are written below the HTTP encoder as complete chunks, so an event's bytes are shared
/// by every SSE recipient. Every frame passes the session's outbound gate: a client that stops
/// reading is closed at the outbound limit like a WebSocket one.
final class ServerSentEventsTransport: ChannelInboundHandler, RemovableChannelHandler, SessionTransport {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Limits and timing of one stream.
    struct Settings: Sendable {
        /// Between `: ping` comments.
        var heartbeat: TimeAmount
        /// The `retry:` the stream starts with: how long a browser waits before reconnecting.
        var retry: TimeAmount
        /// How long a posted message with an `id` waits for its reply before it is answered
        /// `accepted` (the reply then comes on the stream).
        var replyTimeout: TimeAmount
        /// Posted messages that may wait for their replies at once.
        var maxPendingReplies: Int
        /// How long a closing stream may take to flush its last event before it is cut.
        var closeGrace: TimeAmount = .seconds(2)

        /// `retry` to three times it, at random: a dead node's browsers do not all come back at once.
        func jitteredRetryMilliseconds() -> Int64 {
            let base = max(1, retry.nanoseconds / 1_000_000)
            return base + Int64.random(in: 0...(2 * base))
        }
    }

    private enum State { case open, closing }

    /// A posted message waiting for the reply that carries its `id`.
    private struct PendingReply {
        var promise: EventLoopPromise<HTTPResponse>
        var timeout: Scheduled<Void>?
    }

    let session: Session
    let encoding: FrameEncodings.Index
    private let settings: Settings
    private let head: HTTPResponseHead
    private let connections: ServerSentEventsConnections
    private let logger: Logger
    private var state = State.open
    private var context: ChannelHandlerContext?
    /// The HTTP encoder's context: writes here skip the encoder (bodies are pre-chunked).
    private var rawContext: ChannelHandlerContext?
    private var heartbeatTask: RepeatedTask?
    private var pendingReplies: [MessageReference: PendingReply] = [:]
    /// Replies written while a posted message without an `id` is handled: its POST answers them.
    private var captured: [HTTPResponse]?

    init(
        session: Session, encoding: FrameEncodings.Index, settings: Settings, corsHeaders: HTTPHeaders,
        connections: ServerSentEventsConnections, logger: Logger
    ) {
        self.session = session
        self.encoding = encoding
        self.settings = settings
        self.connections = connections
        self.logger = logger
        var headers = corsHeaders
        headers.add(name: "content-type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "cache-control", value: "no-cache, no-transform")
        headers.add(name: "transfer-encoding", value: "chunked")
        // nginx buffers proxied responses unless told not to.
        headers.add(name: "x-accel-buffering", value: "no")
        self.head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.rawContext = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let retry = ServerSentEventsFrame.retry(milliseconds: Int(settings.retry.nanoseconds / 1_000_000), allocator: context.channel.allocator)
        rawContext?.write(NIOAny(retry), promise: nil)
        connections.add(self, id: session.connectionID, eventLoop: context.eventLoop)
        session.start(on: self)
        let ping = ServerSentEventsFrame.comment("ping", allocator: context.channel.allocator)
        let transport = NIOLoopBound(self, eventLoop: context.eventLoop)
        heartbeatTask = context.eventLoop.scheduleRepeatedTask(initialDelay: settings.heartbeat, delay: settings.heartbeat) { _ in
            transport.value.heartbeat(ping)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ended()
        self.context = nil
        self.rawContext = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        ended()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        session.writabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    /// The client sends nothing on the stream's own connection; anything that arrives is dropped.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func ended() {
        state = .closing
        heartbeatTask?.cancel()
        heartbeatTask = nil
        connections.remove(id: session.connectionID)
        session.transportClosed()
        for (_, pending) in pendingReplies {
            pending.timeout?.cancel()
            pending.promise.succeed(Self.gone)
        }
        pendingReplies.removeAll()
    }

    /// A `: ping` comment through the outbound gate. A stream's client never sends on it, so a
    /// heartbeat the socket took counts as the client's activity: a dead peer stops taking
    /// them, and the outbound limit or TCP ends the connection.
    private func heartbeat(_ ping: ByteBuffer) {
        guard state == .open, session.admitOutbound(), let rawContext else { return }
        let session = self.session
        rawContext.writeAndFlush(NIOAny(ping)).assumeIsolated().whenSuccess { session.receivedActivity() }
    }

    // MARK: Posted messages

    /// One message a client posted for this stream: handed to the session; the POST is answered
    /// with the reply carrying the message's `id` (waiting up to the reply timeout), or with the
    /// replies the session wrote at once, else `accepted`. Other output goes on the stream.
    func deliver(_ body: [UInt8], identity: ClientIdentity, promise: EventLoopPromise<HTTPResponse>) {
        guard state == .open, identity.account == session.identity.account, identity.user == session.identity.user else {
            promise.succeed(Self.gone)
            return
        }
        let reference = ClientMessage.reference(in: body)
        if let reference {
            guard pendingReplies[reference] == nil else {
                promise.succeed(HTTPResponse(HTTPRefusal(
                    status: .conflict, code: .badRequest, message: "a message with this id is still waiting for its reply")))
                return
            }
            guard pendingReplies.count < settings.maxPendingReplies else {
                promise.succeed(HTTPResponse(HTTPRefusal(
                    status: .tooManyRequests, code: .rateLimited, message: "too many messages waiting for replies")))
                return
            }
            pendingReplies[reference] = PendingReply(promise: promise)
            session.receive(text: body)
            guard pendingReplies[reference] != nil, let eventLoop = context?.eventLoop else { return }
            pendingReplies[reference]!.timeout = eventLoop.assumeIsolated().scheduleTask(in: settings.replyTimeout) {
                self.pendingReplies.removeValue(forKey: reference)?.promise.succeed(Self.accepted(reference))
            }
        } else {
            captured = []
            session.receive(text: body)
            let replies = captured ?? []
            captured = nil
            promise.succeed(replies.first ?? Self.accepted(nil))
        }
    }

    /// Answers the POST waiting for `message`'s `ref`, or the POST being handled; false when none is.
    private func answerPost(_ response: HTTPResponse, ref: MessageReference?) -> Bool {
        if let ref, let pending = pendingReplies.removeValue(forKey: ref) {
            pending.timeout?.cancel()
            pending.promise.succeed(response)
            return true
        }
        if captured != nil, captured!.isEmpty {
            captured!.append(response)
            return true
        }
        return false
    }

    private static func accepted(_ reference: MessageReference?) -> HTTPResponse {
        var object: [String: Any] = ["type": "accepted"]
        switch reference {
        case .string(let text): object["ref"] = text
        case .integer(let number): object["ref"] = number
        case nil: break
        }
        return .json(.accepted, object)
    }

    private static let gone = HTTPResponse(HTTPRefusal(
        status: .notFound, code: .unknownConnection, message: "no open SSE connection with this id for this token on this node"))

    // MARK: Encoding (SessionTransport)

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func writeEncoded(_ frame: ByteBuffer) {
        rawContext?.write(NIOAny(frame), promise: nil)
    }

    func writeEvent(_ payload: ByteBuffer) {
        guard let rawContext else { return }
        let offset = EventRouting.decode(payload.readableBytesView)?.offset
        rawContext.write(NIOAny(ServerSentEventsFrame.event(payload.readableBytesView, id: offset, allocator: rawContext.channel.allocator)), promise: nil)
    }

    func writeMessage(_ message: ServerMessage) {
        let bytes = message.encoded()
        if answerPost(HTTPResponse(status: .ok, body: bytes), ref: message.ref) { return }
        guard let rawContext else { return }
        // `connected` carries the start offset as its id: a browser that reconnects before any
        // event arrived still resumes from where this connection started.
        var id: String?
        if case .connected(_, _, _, _, _, let offset) = message { id = offset }
        rawContext.write(NIOAny(ServerSentEventsFrame.event(bytes, id: id, allocator: rawContext.channel.allocator)), promise: nil)
    }

    func writeText(_ text: String) {
        if answerPost(HTTPResponse(status: .ok, body: Array(text.utf8), contentType: "text/plain"), ref: nil) { return }
        guard let rawContext else { return }
        rawContext.write(NIOAny(ServerSentEventsFrame.event(Array(text.utf8), allocator: rawContext.channel.allocator)), promise: nil)
    }

    /// SSE has no transport-level ping from the client.
    func writePong(_ payload: ByteBuffer) {}

    func flush() {
        rawContext?.flush()
    }

    /// Ends the stream with an `event: close` carrying the code and reason (an `EventSource`
    /// reconnects on its own after `retry`, with `Last-Event-ID`), then the last chunk; the TCP
    /// connection is cut once they are written or after the close grace.
    func close(code: CloseCode, reason: String) {
        guard state == .open, let context, let rawContext else { return }
        state = .closing
        let allocator = context.channel.allocator
        let body = HTTPResponse.json(.ok, ["code": Int(code.rawValue), "reason": reason]).body
        rawContext.write(NIOAny(ServerSentEventsFrame.event(body, name: "close", allocator: allocator)), promise: nil)
        var last = allocator.buffer(capacity: 5)
        last.writeStaticString(ServerSentEventsFrame.lastChunk)
        let channel = context.channel
        rawContext.writeAndFlush(NIOAny(last)).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: settings.closeGrace) { channel.close(promise: nil) }
    }
}
