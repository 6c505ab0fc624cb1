import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket transport's entry (`/ws`, `/ws/accounts/{account}/`): an upgrade decision that
/// runs the session admission, and the frame pipeline plus ``WebSocketTransport`` once upgraded.
///
/// A refused upgrade is answered either with the refusal's HTTP status (the HTTP handler writes
/// it from the connection's ``HandshakeSlot``) or — for browsers, which cannot read that status
/// (``UpgradeRefusalMode``) — by accepting the upgrade and closing at once with a 44xx code and
/// the reason (``WebSocketRefusalCloser``).
struct WebSocketUpgrade: WebSocketEntry {
    let admission: SessionAdmission
    let sessions: SessionFactory
    let encoding: FrameEncodings.Index
    let maxMessageBytes: Int
    var refusals: UpgradeRefusalMode = .browser

    func accepts(_ head: HTTPRequestHead) -> Bool {
        HandshakeAuthenticator.isWebSocketPath(head.uri)
    }

    func shouldUpgrade(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) -> EventLoopFuture<HTTPHeaders?> {
        admission.admit(head, on: channel.eventLoop).map { acceptance -> HTTPHeaders? in
            slot.value.acceptance = acceptance
            var headers = HTTPHeaders()
            if let subprotocol = acceptance.subprotocol { headers.add(name: "sec-websocket-protocol", value: subprotocol) }
            return headers
        }.recover { [refusals] error -> HTTPHeaders? in
            let refusal = error as? HTTPRefusal
            guard let refusal, refusals.closes(hasOrigin: head.headers.contains(name: "origin")) else {
                slot.value.refusal = refusal
                return nil
            }
            slot.value.closingRefusal = refusal
            // A browser that offered a subprotocol fails a handshake that selects none, before
            // it would see the close code.
            var headers = HTTPHeaders()
            if let offered = HandshakeAuthenticator.offeredTokenSubprotocol(head) { headers.add(name: "sec-websocket-protocol", value: offered) }
            return headers
        }
    }

    func upgraded(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) throws {
        if let refusal = slot.value.closingRefusal {
            slot.value.closingRefusal = nil
            try channel.pipeline.syncOperations.addHandler(WebSocketRefusalCloser(refusal: refusal))
            return
        }
        guard let acceptance = slot.value.acceptance else { throw ChannelError.inappropriateOperationForState }
        slot.value.acceptance = nil  // the session has it now; the slot lives as long as the connection
        let session = try sessions.makeSession(for: acceptance, on: channel.eventLoop)
        try WebSocketFramePipeline.addHandlers(to: channel.pipeline.syncOperations, maxMessageBytes: maxMessageBytes)
        try channel.pipeline.syncOperations.addHandler(WebSocketTransport(session: session, encoding: encoding, logger: sessions.logger))
    }
}
