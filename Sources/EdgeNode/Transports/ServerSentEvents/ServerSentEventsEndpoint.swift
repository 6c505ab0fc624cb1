import HeraldProtocol
import NIOCore
import NIOHTTP1

/// `GET /sse`: admits the client like any session (token, origin, readiness, start offset;
/// `Last-Event-ID` or `?since=` to recover, `?channels=` to join), then hands the connection to
/// a ``ServerSentEventsTransport`` that streams the session.
///
/// A refusal the client should retry (503: draining, broker unavailable) is answered as a short
/// event stream — `retry:`, one `event: error` — rather than an HTTP error, because a browser's
/// `EventSource` gives up for good on any status but 200, and reconnects after a stream ends.
struct ServerSentEventsEndpoint: HTTPEndpoint {
    let admission: SessionAdmission
    let sessions: SessionFactory
    let encoding: FrameEncodings.Index
    let connections: ServerSentEventsConnections
    let settings: ServerSentEventsTransport.Settings

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        let sse = ServerSentEventsRequest(request.head)
        let cors = CrossOrigin.headers(for: request.head)
        let (sessions, encoding, connections, settings) = (self.sessions, self.encoding, self.connections, self.settings)
        return admission.admit(sse.credentials, on: eventLoop).map { acceptance in
            HTTPResponse.stream { channel in
                let session = try sessions.makeSession(for: acceptance, on: channel.eventLoop)
                var settings = settings
                // Spread the reconnects of a node's clients after it dies or drains.
                settings.retry = .milliseconds(settings.jitteredRetryMilliseconds())
                try channel.pipeline.syncOperations.addHandler(ServerSentEventsTransport(
                    session: session, encoding: encoding, settings: settings, corsHeaders: cors, connections: connections,
                    logger: sessions.logger))
            }
        }.recover { error in
            let refusal = error as? HTTPRefusal ?? HTTPRefusal(status: .unauthorized, code: .unauthorized, message: "authentication failed")
            var response: HTTPResponse
            if refusal.status == .serviceUnavailable {
                var body = "retry: \(settings.jitteredRetryMilliseconds())\n\n".utf8.map { $0 }
                let event = ServerSentEventsFrame.event(refusal.body, name: "error", allocator: ByteBufferAllocator())
                // The chunk's body, without its chunk framing: this answer has a content-length.
                body += Self.unchunked(event)
                response = HTTPResponse(status: .ok, body: body, contentType: "text/event-stream; charset=utf-8")
            } else {
                response = HTTPResponse(refusal)
            }
            response.headers.add(contentsOf: cors)
            return response
        }
    }

    private static func unchunked(_ chunk: ByteBuffer) -> [UInt8] {
        let bytes = Array(chunk.readableBytesView)
        guard let start = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return bytes }
        return Array(bytes[(start + 1)..<(bytes.count - 2)])
    }
}
