import NIOCore
import NIOHTTP1

/// Engine.IO long-polling on `/socket.io/?EIO=4&transport=polling`: a `GET` without `sid` is the
/// handshake (the open packet), a `GET` with one waits for the session's packets (up to a ping
/// interval), a `POST` carries the client's packets. Every answer is `text/plain` with CORS.
struct SocketIOPollingEndpoint: HTTPEndpoint {
    let entry: SocketIOEntry

    var maxBodyBytes: Int { entry.settings.maxPayloadBytes }

    /// A poll is answered at the latest by the next ping.
    var responseTimeout: TimeAmount? { entry.settings.pingInterval + .seconds(5) }

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        let cors = CrossOrigin.headers(for: request.head)
        return answer(request, on: eventLoop).map { response in
            var response = response
            response.headers.add(contentsOf: cors)
            return response
        }
    }

    private func answer(_ request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        guard let io = SocketIORequest(request.head) else {
            return eventLoop.makeSucceededFuture(SocketIORequest.refusal(code: 3, message: "Bad request"))
        }
        if let refusal = io.queryRefusal(expecting: "polling") { return eventLoop.makeSucceededFuture(refusal) }
        let registry = entry.registry
        let answered: EventLoopFuture<HTTPResponse>?
        switch (request.head.method, io.sid) {
        case (.GET, nil):
            if let refusal = entry.refusal { return eventLoop.makeSucceededFuture(HTTPResponse(refusal)) }
            guard let transport = entry.makeTransport(on: eventLoop, request: io) else {
                return eventLoop.makeSucceededFuture(HTTPResponse(HTTPRefusal(
                    status: .serviceUnavailable, code: .unavailable, message: "this node holds its maximum of Socket.IO sessions: retry shortly")))
            }
            return eventLoop.makeSucceededFuture(Self.text(transport.open(over: nil)))
        case (.GET, let sid?):
            answered = registry.withSession(sid) { $0.poll() }.map { $0.map(Self.text) }
        case (.POST, let sid?):
            let body = request.body
            answered = registry.withSession(sid) { $0.post(body) }.map { $0.map { Self.text(Array("ok".utf8)) } }
        default:
            answered = nil
        }
        guard let answered else {
            return eventLoop.makeSucceededFuture(SocketIORequest.refusal(code: 1, message: "Session ID unknown"))
        }
        return answered.hop(to: eventLoop).recover { error in
            let refusal = error as? SocketIOPollError ?? .badRequest
            return SocketIORequest.refusal(code: refusal.engineIOCode, message: refusal.description)
        }
    }

    private static func text(_ body: [UInt8]) -> HTTPResponse {
        var response = HTTPResponse(status: .ok, body: body, contentType: "text/plain; charset=UTF-8")
        response.headers.add(name: "cache-control", value: "no-store")
        return response
    }
}
