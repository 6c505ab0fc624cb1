import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Engine.IO over WebSocket on `/socket.io/?EIO=4&transport=websocket`: a new session carried by
/// the socket (no `sid`), or the upgrade of a polling session (`sid`), which stays on its own
/// event loop while the socket forwards to it. No credentials are checked here: they come in
/// the Socket.IO `CONNECT`.
struct SocketIOUpgrade: WebSocketEntry {
    let entry: SocketIOEntry

    func accepts(_ head: HTTPRequestHead) -> Bool {
        SocketIORequest(head) != nil
    }

    func shouldUpgrade(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) -> EventLoopFuture<HTTPHeaders?> {
        // A refusal falls through to the polling endpoint, which answers Engine.IO's error.
        guard let io = SocketIORequest(head), io.queryRefusal(expecting: "websocket") == nil else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        if let sid = io.sid {
            return channel.eventLoop.makeSucceededFuture(entry.registry.session(sid) == nil ? nil : HTTPHeaders())
        }
        return channel.eventLoop.makeSucceededFuture(entry.refusal == nil ? HTTPHeaders() : nil)
    }

    func upgraded(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) throws {
        guard let io = SocketIORequest(head) else { throw ChannelError.inappropriateOperationForState }
        try WebSocketFramePipeline.addHandlers(to: channel.pipeline.syncOperations, maxMessageBytes: entry.maxMessageBytes)
        let logger = entry.sessions.logger
        if let sid = io.sid {
            guard let (loop, transport) = entry.registry.session(sid) else { throw ChannelError.inappropriateOperationForState }
            try channel.pipeline.syncOperations.addHandler(EngineIOWebSocketHandler(transport: transport, transportLoop: loop, logger: logger))
            return
        }
        guard let transport = entry.makeTransport(on: channel.eventLoop, request: io) else { throw ChannelError.inappropriateOperationForState }
        let handler = EngineIOWebSocketHandler(
            transport: NIOLoopBound(transport, eventLoop: channel.eventLoop), transportLoop: channel.eventLoop, logger: logger)
        try channel.pipeline.syncOperations.addHandler(handler)
        guard let carrier = handler.carrier else { throw ChannelError.inappropriateOperationForState }
        carrier.write(packet: ByteBuffer(bytes: transport.open(over: carrier)))
        carrier.flush()
    }
}
