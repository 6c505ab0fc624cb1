import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket transport's entry (`/ws`, `/ws/accounts/{account}/`): an upgrade decision that
/// runs the session admission, and the frame pipeline plus ``WebSocketTransport`` once upgraded.
/// A refusal goes into the connection's ``HandshakeSlot`` for the HTTP handler to answer.
struct WebSocketUpgrade: WebSocketEntry {
    let admission: SessionAdmission
    let sessions: SessionFactory
    let encoding: FrameEncodings.Index
    let maxMessageBytes: Int

    func accepts(_ head: HTTPRequestHead) -> Bool {
        HandshakeAuthenticator.isWebSocketPath(head.uri)
    }

    func shouldUpgrade(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) -> EventLoopFuture<HTTPHeaders?> {
        admission.admit(head, on: channel.eventLoop).map { acceptance -> HTTPHeaders? in
            slot.value.acceptance = acceptance
            var headers = HTTPHeaders()
            if let subprotocol = acceptance.subprotocol { headers.add(name: "sec-websocket-protocol", value: subprotocol) }
            return headers
        }.recover { error -> HTTPHeaders? in
            slot.value.refusal = error as? HTTPRefusal
            return nil
        }
    }

    func upgraded(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) throws {
        guard let acceptance = slot.value.acceptance else { throw ChannelError.inappropriateOperationForState }
        let session = try sessions.makeSession(for: acceptance, on: channel.eventLoop)
        try WebSocketFramePipeline.addHandlers(to: channel.pipeline.syncOperations, maxMessageBytes: maxMessageBytes)
        try channel.pipeline.syncOperations.addHandler(WebSocketTransport(session: session, encoding: encoding, logger: sessions.logger))
    }
}
