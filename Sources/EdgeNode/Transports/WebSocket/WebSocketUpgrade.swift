import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket transport's entry: an upgrader whose decision runs the session admission, and
/// the frame pipeline plus ``WebSocketTransport`` once upgraded.
///
/// A refused upgrade is answered either with the refusal's HTTP status (the HTTP handler writes
/// it) or — for browsers, which cannot read that status (``UpgradeRefusalMode``) — by accepting
/// the upgrade and closing at once with a 44xx code and the reason (``WebSocketRefusalCloser``).
struct WebSocketUpgrade: Sendable {
    let admission: SessionAdmission
    let sessions: SessionFactory
    let encoding: FrameEncodings.Index
    let maxMessageBytes: Int
    var refusals: UpgradeRefusalMode = .browser

    /// The upgrader for one connection; a refusal goes into `slot` for the HTTP handler to answer.
    func makeUpgrader(slot: NIOLoopBound<HandshakeSlot>) -> NIOWebSocketServerUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: maxMessageBytes,
            // Protocol errors are answered by WebSocketTransport (one handler less per connection).
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in shouldUpgrade(channel: channel, head: head, slot: slot) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture { try upgraded(channel: channel, slot: slot) }
            }
        )
    }

    private func shouldUpgrade(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) -> EventLoopFuture<HTTPHeaders?> {
        guard HandshakeAuthenticator.isWebSocketPath(head.uri) else { return channel.eventLoop.makeSucceededFuture(nil) }
        return admission.admit(head, on: channel.eventLoop).map { acceptance -> HTTPHeaders? in
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

    private func upgraded(channel: Channel, slot: NIOLoopBound<HandshakeSlot>) throws {
        if let refusal = slot.value.closingRefusal {
            slot.value.closingRefusal = nil
            try channel.pipeline.syncOperations.addHandler(WebSocketRefusalCloser(refusal: refusal))
            return
        }
        guard let acceptance = slot.value.acceptance else { throw ChannelError.inappropriateOperationForState }
        let session = try sessions.makeSession(for: acceptance, on: channel.eventLoop)
        try WebSocketFramePipeline.addHandlers(to: channel.pipeline.syncOperations, maxMessageBytes: maxMessageBytes)
        try channel.pipeline.syncOperations.addHandler(WebSocketTransport(session: session, encoding: encoding, logger: sessions.logger))
    }
}
