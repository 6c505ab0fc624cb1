import Foundation
import HeraldBroker
import HeraldProtocol
import NIOCore
import NIOHTTP1

/// Serves the plain-HTTP side of a node: health, readiness, metrics, the publish API, and the
/// JSON refusals of WebSocket upgrades. Connections that stay idle or never finish a request
/// within the handshake timeout are closed.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What the handler needs from the node; shared by every connection.
    struct Dependencies: Sendable {
        var broker: any EventBroker
        var apiKeys: APIKeyVerifier
        var metrics: NodeMetrics
        var readiness: NodeReadiness
        var presence: PresenceTracker
        var maxBodyBytes: Int
        var requestTimeout: TimeAmount
    }

    private enum State {
        case idle
        case reading(HTTPRequestHead, [UInt8])
        case discarding(HTTPRefusal)
        case responding
    }

    private let dependencies: Dependencies
    private let slot: HandshakeSlot
    private var state = State.idle
    private var timeout: Scheduled<Void>?

    init(dependencies: Dependencies, slot: HandshakeSlot) {
        self.dependencies = dependencies
        self.slot = slot
    }

    func handlerAdded(context: ChannelHandlerContext) {
        armTimeout(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
    }

    private func armTimeout(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: dependencies.requestTimeout) { [weak self] in
            guard let self else { return }
            if case .reading = self.state {
                self.respond(context: context, keepAlive: false, refusal: HTTPRefusal(status: .requestTimeout, code: .requestTimeout, message: "the request did not complete in time"))
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            armTimeout(context: context)
            state = .reading(head, [])
        case .body(let chunk):
            guard case .reading(let head, var body) = state else { return }
            if body.count + chunk.readableBytes > dependencies.maxBodyBytes {
                state = .discarding(HTTPRefusal(status: .payloadTooLarge, code: .payloadTooLarge, message: "request body over \(dependencies.maxBodyBytes) bytes"))
                return
            }
            state = .responding  // drop the array's reference so the append below does not copy
            body.append(contentsOf: chunk.readableBytesView)
            state = .reading(head, body)
        case .end:
            switch state {
            case .reading(let head, let body):
                state = .responding
                route(head: head, body: body, context: context)
            case .discarding(let refusal):
                state = .responding
                respond(context: context, keepAlive: false, refusal: refusal)
            case .idle, .responding:
                break
            }
        }
    }

    private func route(head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let keepAlive = head.isKeepAlive
        switch (head.method, path) {
        case (.GET, "/healthz"):
            respond(context: context, keepAlive: keepAlive, status: .ok, json: ["status": "ok"])
        case (.GET, "/readyz"):
            let readiness = dependencies.readiness
            if readiness.isReady {
                respond(context: context, keepAlive: keepAlive, status: .ok, json: ["status": "ready"])
            } else {
                var body = ["status": "not_ready", "reason": readiness.isDraining ? "draining" : "broker unavailable"]
                if !readiness.isDraining, let detail = readiness.brokerProblem { body["detail"] = detail }
                respond(context: context, keepAlive: keepAlive, status: .serviceUnavailable, json: body)
            }
        case (.GET, "/metrics"):
            respond(context: context, keepAlive: keepAlive, status: .ok, body: dependencies.metrics.exposition(), contentType: "text/plain; version=0.0.4")
        case (.POST, "/api/v1/publish"):
            publish(head: head, body: body, context: context, batch: false)
        case (.POST, "/api/v1/publish/batch"):
            publish(head: head, body: body, context: context, batch: true)
        case (_, "/healthz"), (_, "/readyz"), (_, "/metrics"), (_, "/api/v1/publish"), (_, "/api/v1/publish/batch"):
            respond(context: context, keepAlive: keepAlive, refusal: HTTPRefusal(status: .methodNotAllowed, code: .methodNotAllowed, message: "\(head.method) is not allowed on \(path)"))
        case (.GET, _) where Self.presenceAccount(in: path) != nil:
            presenceQuery(account: Self.presenceAccount(in: path)!, head: head, context: context)
        case (_, _) where Self.presenceAccount(in: path) != nil:
            respond(context: context, keepAlive: keepAlive, refusal: HTTPRefusal(status: .methodNotAllowed, code: .methodNotAllowed, message: "\(head.method) is not allowed on \(path)"))
        case _ where HandshakeAuthenticator.isWebSocketPath(head.uri):
            let refusal = slot.refusal ?? HTTPRefusal(status: .upgradeRequired, code: .upgradeRequired, message: "this endpoint speaks WebSocket: send an Upgrade: websocket request")
            slot.refusal = nil
            respond(context: context, keepAlive: false, refusal: refusal)
        default:
            respond(context: context, keepAlive: keepAlive, refusal: HTTPRefusal(status: .notFound, code: .notFound, message: "no route for \(head.method) \(path)"))
        }
    }

    /// The account of `/api/v1/accounts/{account}/presence`, or nil for other paths.
    static func presenceAccount(in path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.count == 5, segments[0] == "api", segments[1] == "v1", segments[2] == "accounts", segments[4] == "presence" else {
            return nil
        }
        return String(segments[3])
    }

    /// Checks the API key; answers 401 itself and returns false when it is missing or wrong.
    private func authorizeAPI(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        do throws(AuthenticationError) {
            guard dependencies.apiKeys.isEnabled else { throw .badAPIKey }
            try dependencies.apiKeys.check(head.headers)
            return true
        } catch {
            respond(context: context, keepAlive: head.isKeepAlive, refusal: HTTPRefusal(error))
            return false
        }
    }

    /// `GET /api/v1/accounts/{account}/presence`: an API key may read any account it names, as it may publish to any.
    private func presenceQuery(account: String, head: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive
        guard authorizeAPI(head, context: context) else { return }
        guard AccountName.isValid(account) else {
            respond(context: context, keepAlive: keepAlive, refusal: PublishRequest.bad("the account must be 1-\(AccountName.maximumLength) characters of A-Z a-z 0-9 _ - ."))
            return
        }
        dependencies.presence.users(account: account).hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let users):
                let entries: [[String: Any]] = users.map { user in
                    var entry: [String: Any] = ["user": user.user, "connections": user.connections]
                    if let info = user.info, let object = try? JSONSerialization.jsonObject(with: Data(info.utf8), options: [.fragmentsAllowed]) {
                        entry["info"] = object
                    }
                    return entry
                }
                self.respond(context: context, keepAlive: keepAlive, status: .ok, json: ["account": account, "users": entries])
            case .failure(let error):
                self.respond(context: context, keepAlive: keepAlive, refusal: HTTPRefusal(status: .serviceUnavailable, code: .unavailable, message: "presence is unavailable: \(error)"))
            }
        }
    }

    private func publish(head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext, batch: Bool) {
        let keepAlive = head.isKeepAlive
        guard authorizeAPI(head, context: context) else { return }
        let requests: [PublishRequest]
        do throws(HTTPRefusal) {
            requests = batch ? try PublishRequest.parseBatch(body: body, maximumCount: Self.maximumBatchSize) : [try PublishRequest.parse(body: body)]
        } catch {
            respond(context: context, keepAlive: keepAlive, refusal: error)
            return
        }
        let broker = dependencies.broker
        let metrics = dependencies.metrics
        let publishes = requests.map { request in
            broker.publish(account: request.account, payload: ByteBuffer(bytes: request.event), history: request.history)
        }
        EventLoopFuture.whenAllComplete(publishes, on: context.eventLoop).assumeIsolated().whenSuccess { results in
            let answers: [[String: Any]] = results.map { result in
                switch result {
                case .success(let receipt):
                    metrics.publishes.increment()
                    return ["offset": receipt.offset ?? NSNull(), "nodes": receipt.nodes ?? NSNull()]
                case .failure(let error as BrokerError) where error.isRefusal:
                    metrics.publishFailures.increment()
                    return ["error": ErrorCode.badRequest.rawValue, "message": "\(error)"]
                case .failure(let error):
                    metrics.publishFailures.increment()
                    return ["error": ErrorCode.unavailable.rawValue, "message": "\(error)"]
                }
            }
            if batch {
                self.respond(context: context, keepAlive: keepAlive, status: .ok, json: ["results": answers])
            } else if let code = answers[0]["error"] as? String {
                self.respond(context: context, keepAlive: keepAlive, status: code == ErrorCode.badRequest.rawValue ? .badRequest : .serviceUnavailable, json: answers[0])
            } else {
                self.respond(context: context, keepAlive: keepAlive, status: .ok, json: answers[0])
            }
        }
    }

    /// The most events one batch request may carry.
    static let maximumBatchSize = 1000

    private func respond(context: ChannelHandlerContext, keepAlive: Bool, refusal: HTTPRefusal) {
        respond(context: context, keepAlive: keepAlive, status: refusal.status, body: refusal.body, contentType: "application/json")
    }

    private func respond(context: ChannelHandlerContext, keepAlive: Bool, status: HTTPResponseStatus, json: [String: Any]) {
        let body = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        respond(context: context, keepAlive: keepAlive, status: status, body: Array(body), contentType: "application/json")
    }

    private func respond(context: ChannelHandlerContext, keepAlive: Bool, status: HTTPResponseStatus, body: [UInt8], contentType: String) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.count))
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        state = .idle
        if !keepAlive {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            armTimeout(context: context)
        }
    }
}
