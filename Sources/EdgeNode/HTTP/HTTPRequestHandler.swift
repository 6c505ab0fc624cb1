import HeraldProtocol
import NIOCore
import NIOHTTP1

/// Serves the plain-HTTP side of one connection: looks each request up in the route table, lets
/// the endpoint admit or refuse it on the head alone (before any body is read), gathers a body
/// within the endpoint's limit, and writes the endpoint's answer. WebSocket paths that reach it
/// are upgrades the upgrader refused: they get that refusal as JSON. Connections that stay idle
/// or never finish a request within the request timeout are closed.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case reading(HTTPRequest, any HTTPEndpoint)
        /// Answered (or answering) already: the rest of the request is read and dropped.
        case discarding
        case responding
        /// A streaming endpoint took the connection over.
        case handedOver
    }

    private let router: HTTPRouter
    private let requestTimeout: TimeAmount
    private let slot: HandshakeSlot
    private var state = State.idle
    /// One timer per connection, re-armed only when it fires before ``deadline``: moving the
    /// deadline on each request costs an assignment, not a cancelled and a new scheduled task.
    private var timeout: Scheduled<Void>?
    /// When ``timeout`` fires (never after ``deadline``).
    private var timeoutFires = NIODeadline.distantFuture
    private var deadline = NIODeadline.distantFuture
    /// Puts an upgrade handler in front of this one and hands it a later request's head that asks
    /// for an upgrade (NIO's only looks at a connection's first request); false when it could not.
    var upgradeLater: ((HTTPRequestHead, ChannelPipeline.SynchronousOperations) -> Bool)?
    /// Whether the next head to arrive was offered to an upgrade handler already (the
    /// connection's first request always is): a head that comes back was declined, and is
    /// answered here rather than offered again.
    private var upgradeOffered = true
    /// Whether this connection reads with the growing HTTP receive buffer yet (``ReceiveBuffers``).
    private var readsLikeHTTP = false

    init(router: HTTPRouter, requestTimeout: TimeAmount, slot: HandshakeSlot) {
        self.router = router
        self.requestTimeout = requestTimeout
        self.slot = slot
    }

    func handlerAdded(context: ChannelHandlerContext) {
        armTimeout(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
        // The closure reaches back to this handler (the upgrade's completion removes it): drop it,
        // or the handler, its handshake slot and the closures outlive the connection.
        upgradeLater = nil
    }

    /// The connection must finish its next request (or, idle, send one) within `limit` (the
    /// request timeout when nil) from now.
    private func armTimeout(context: ChannelHandlerContext, after limit: TimeAmount? = nil) {
        deadline = NIODeadline.now() + (limit ?? requestTimeout)
        // A timer due no later than the new deadline re-arms itself when it fires.
        if timeout != nil, timeoutFires <= deadline { return }
        schedule(at: deadline, context: context)
    }

    private func schedule(at fireTime: NIODeadline, context: ChannelHandlerContext) {
        timeout?.cancel()
        timeoutFires = fireTime
        timeout = context.eventLoop.assumeIsolated().scheduleTask(deadline: fireTime) { [weak self] in
            guard let self else { return }
            self.timeout = nil
            if case .handedOver = self.state { return }
            if NIODeadline.now() < self.deadline {
                self.schedule(at: self.deadline, context: context)
                return
            }
            if case .reading = self.state {
                self.respond(HTTPResponse(HTTPRefusal(status: .requestTimeout, code: .requestTimeout, message: "the request did not complete in time")), keepAlive: false, context: context)
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if case .handedOver = state { return }
            if upgradeOffered {
                upgradeOffered = false
            } else if case .idle = state, head.headers.contains(name: "upgrade"), let upgradeLater {
                upgradeOffered = true
                if upgradeLater(head, context.pipeline.syncOperations) { return }
                upgradeOffered = false
            }
            if !readsLikeHTTP {
                // A plain request: bodies (batches, upstream POSTs) may be large, so let reads grow.
                readsLikeHTTP = true
                try? context.channel.syncOptions?.setOption(.recvAllocator, value: ReceiveBuffers.http)
            }
            armTimeout(context: context)
            received(head, context: context)
        case .body(let chunk):
            guard case .reading(var request, let endpoint) = state else { return }
            guard request.body.count + chunk.readableBytes <= endpoint.maxBodyBytes else {
                refuseEarly(Self.tooLarge(endpoint), context: context)
                return
            }
            state = .responding  // drop the array's reference so the append below does not copy
            request.body.append(contentsOf: chunk.readableBytesView)
            state = .reading(request, endpoint)
        case .end:
            switch state {
            case .reading(let request, let endpoint):
                state = .responding
                let keepAlive = request.head.isKeepAlive
                if let limit = endpoint.responseTimeout { armTimeout(context: context, after: limit) }
                endpoint.respond(to: request, on: context.eventLoop).assumeIsolated().whenComplete { result in
                    let response = (try? result.get()) ?? HTTPResponse(HTTPRefusal(status: .internalServerError, code: .unavailable, message: "the request failed"))
                    if let takeover = response.takeover {
                        self.handOver(to: takeover, context: context)
                    } else {
                        self.respond(response, keepAlive: keepAlive, context: context)
                    }
                }
            case .discarding:
                state = .idle
            case .idle, .responding, .handedOver:
                break
            }
        }
    }

    /// A streaming endpoint answers from here on: this handler leaves the pipeline and its
    /// timeout ends (the stream has its own liveness rules).
    private func handOver(to takeover: HTTPResponse.Takeover, context: ChannelHandlerContext) {
        state = .handedOver
        timeout?.cancel()
        timeout = nil
        do {
            try takeover(context.channel)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }

    /// Routes the head and lets the endpoint refuse it before any body is read.
    private func received(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(head.uri[..<$0]) } ?? head.uri
        switch router.resolve(head.method, path: path) {
        case .endpoint(let endpoint, let parameters):
            if let refusal = endpoint.admit(head, parameters: parameters) {
                refuseEarly(refusal, head: head, context: context)
            } else if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > endpoint.maxBodyBytes {
                refuseEarly(Self.tooLarge(endpoint), context: context)
            } else {
                state = .reading(HTTPRequest(head: head, body: [], parameters: parameters), endpoint)
            }
        case .methodNotAllowed:
            refuseEarly(HTTPRefusal(status: .methodNotAllowed, code: .methodNotAllowed, message: "\(head.method) is not allowed on \(path)"), head: head, context: context)
        case .notFound where HandshakeAuthenticator.isWebSocketPath(head.uri):
            let refusal = slot.refusal ?? HTTPRefusal(status: .upgradeRequired, code: .upgradeRequired, message: "this endpoint speaks WebSocket: send an Upgrade: websocket request")
            slot.refusal = nil
            refuseEarly(refusal, context: context)
        case .notFound:
            refuseEarly(HTTPRefusal(status: .notFound, code: .notFound, message: "no route for \(head.method) \(path)"), head: head, context: context)
        }
    }

    private static func tooLarge(_ endpoint: any HTTPEndpoint) -> HTTPRefusal {
        HTTPRefusal(status: .payloadTooLarge, code: .payloadTooLarge, message: "request body over \(endpoint.maxBodyBytes) bytes")
    }

    /// Answers at once and drops whatever of the request is still to come. The connection is kept
    /// only for a request that announced no body (a body might never arrive, or arrive slowly).
    private func refuseEarly(_ refusal: HTTPRefusal, head: HTTPRequestHead? = nil, context: ChannelHandlerContext) {
        let hasNoBody = head.map { $0.headers.first(name: "content-length") == nil && $0.headers.first(name: "transfer-encoding") == nil } ?? false
        let keepAlive = hasNoBody && head?.isKeepAlive == true
        state = .discarding
        respond(HTTPResponse(refusal), keepAlive: keepAlive, context: context, resetState: false)
    }

    private func respond(_ response: HTTPResponse, keepAlive: Bool, context: ChannelHandlerContext, resetState: Bool = true) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.count))
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        headers.add(contentsOf: response.headers)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if resetState { state = .idle }
        if !keepAlive {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            armTimeout(context: context)
        }
    }
}
