import HeraldProtocol
import NIOCore
import NIOHTTP1

/// `POST /sse/messages?connection_id=<id>`: a client message for an SSE stream, with the same
/// token (same account and user) as the stream, in `Authorization: Bearer` or `?token=`. The
/// body is one client message, exactly as a WebSocket client sends it; the answer is the reply
/// to it (``ServerSentEventsTransport/deliver(_:identity:promise:)``).
///
/// The stream must be on this node: a connection id of another node, a closed stream or another
/// user's stream are all 404 `unknown_connection` (a caller learns nothing about streams that
/// are not its own).
struct ServerSentEventsMessageEndpoint: HTTPEndpoint {
    let authenticator: HandshakeAuthenticator
    let connections: ServerSentEventsConnections
    let maxBodyBytes: Int
    let replyTimeout: TimeAmount

    var responseTimeout: TimeAmount? { replyTimeout + .seconds(5) }

    func admit(_ head: HTTPRequestHead, parameters: [String]) -> HTTPRefusal? {
        let sse = ServerSentEventsRequest(head)
        guard sse.token?.isEmpty == false else { return HTTPRefusal(AuthenticationError.missingToken) }
        guard sse.connectionID?.isEmpty == false else {
            return HTTPRefusal(status: .badRequest, code: .badRequest, message: "name the stream: ?connection_id=<the connected event's connection_id>")
        }
        return nil
    }

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        let sse = ServerSentEventsRequest(request.head)
        let cors = CrossOrigin.headers(for: request.head)
        guard !request.body.isEmpty, let connectionID = sse.connectionID else {
            var response = HTTPResponse(HTTPRefusal(status: .badRequest, code: .badRequest, message: "the body must be one client message"))
            response.headers.add(contentsOf: cors)
            return eventLoop.makeSucceededFuture(response)
        }
        let promise = eventLoop.makePromise(of: HandshakeAuthenticator.Acceptance.self)
        let authenticator = self.authenticator
        let credentials = HandshakeAuthenticator.Credentials(token: sse.token, origin: sse.origin)
        promise.completeWithTask { try await authenticator.authenticate(credentials) }
        let (connections, body) = (self.connections, request.body)
        return promise.futureResult.flatMap { acceptance -> EventLoopFuture<HTTPResponse> in
            let delivered = connections.withConnection(connectionID) { transport, loop in
                let reply = loop.makePromise(of: HTTPResponse.self)
                transport.deliver(body, identity: acceptance.identity, promise: reply)
                return reply.futureResult
            }
            return delivered ?? eventLoop.makeSucceededFuture(HTTPResponse(HTTPRefusal(
                status: .notFound, code: .unknownConnection, message: "no open SSE connection with this id for this token on this node")))
        }
        .hop(to: eventLoop)
        .recover { error in
            HTTPResponse((error as? AuthenticationError).map(HTTPRefusal.init)
                ?? HTTPRefusal(status: .unauthorized, code: .unauthorized, message: "authentication failed"))
        }
        .map { response in
            var response = response
            response.headers.add(contentsOf: cors)
            return response
        }
    }
}
