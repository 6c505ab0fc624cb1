import Logging
import NIOCore

/// The Socket.IO transport's place on the node: `/socket.io/` for Engine.IO long-polling (an
/// HTTP endpoint) and for WebSocket (an upgrade entry), both making their sessions here.
struct SocketIOEntry: Sendable {
    let admission: SessionAdmission
    let sessions: SessionFactory
    let encoding: FrameEncodings.Index
    let settings: SocketIOTransport.Settings
    let registry: SocketIOSessions
    let maxMessageBytes: Int

    init(admission: SessionAdmission, sessions: SessionFactory, encoding: FrameEncodings.Index, configuration: EdgeNodeConfiguration) {
        self.admission = admission
        self.sessions = sessions
        self.encoding = encoding
        self.maxMessageBytes = configuration.maxClientMessageBytes
        // The server pings every heartbeat; a client's pong is its activity, so one that stops
        // answering is closed by the idle rule (two heartbeats) like any silent client.
        let heartbeat = TimeAmount.seconds(Int64(configuration.heartbeatSeconds))
        self.settings = SocketIOTransport.Settings(
            pingInterval: heartbeat, pingTimeout: heartbeat, maxPayloadBytes: configuration.maxClientMessageBytes,
            maxQueuedBytes: configuration.outboundBufferBytes, connectTimeout: configuration.handshakeTimeout)
        self.registry = SocketIOSessions(maxSessions: configuration.maxSocketIOSessions)
    }

    func install(into router: inout HTTPRouter, webSockets: inout WebSocketEntries) {
        let polling = SocketIOPollingEndpoint(entry: self)
        router.add(.GET, "/socket.io", polling)
        router.add(.POST, "/socket.io", polling)
        router.add(.OPTIONS, "/socket.io", PreflightEndpoint(methods: "GET, POST"))
        webSockets.add(SocketIOUpgrade(entry: self))
    }

    /// Whether the node takes new sessions now: a draining or broker-less node refuses the
    /// Engine.IO handshake at once (the `CONNECT` would be refused anyway).
    var refusal: HTTPRefusal? {
        let readiness = admission.readiness
        guard readiness.isDraining || !readiness.brokerReady else { return nil }
        return HTTPRefusal(
            status: .serviceUnavailable, code: readiness.isDraining ? .draining : .unavailable,
            message: readiness.isDraining ? "this node is draining: reconnect" : "the broker is unavailable: retry shortly")
    }

    /// A new registered session on `eventLoop`; nil when the node holds its maximum already.
    func makeTransport(on eventLoop: EventLoop, request: SocketIORequest) -> SocketIOTransport? {
        let transport = SocketIOTransport(
            sid: SocketIOSessions.newSID(), eventLoop: eventLoop, encoding: encoding, settings: settings, admission: admission,
            sessions: sessions, registry: registry, handshakeToken: request.token, origin: request.origin, logger: sessions.logger)
        return registry.add(transport) ? transport : nil
    }
}
