import NIOCore

/// The SSE transport's place on the node: its routes — `GET /sse` (the stream), `POST
/// /sse/messages` (the client's messages) and their CORS preflights.
struct ServerSentEventsEntry: Sendable {
    let admission: SessionAdmission
    let sessions: SessionFactory
    let encoding: FrameEncodings.Index
    let connections = ServerSentEventsConnections()
    let settings: ServerSentEventsTransport.Settings
    let maxMessageBytes: Int

    init(admission: SessionAdmission, sessions: SessionFactory, encoding: FrameEncodings.Index, configuration: EdgeNodeConfiguration) {
        self.admission = admission
        self.sessions = sessions
        self.encoding = encoding
        self.maxMessageBytes = configuration.maxClientMessageBytes
        self.settings = ServerSentEventsTransport.Settings(
            heartbeat: .seconds(Int64(configuration.heartbeatSeconds)), retry: .seconds(1), replyTimeout: .seconds(5),
            maxPendingReplies: 16)
    }

    func install(into router: inout HTTPRouter) {
        router.add(.GET, "/sse", ServerSentEventsEndpoint(
            admission: admission, sessions: sessions, encoding: encoding, connections: connections, settings: settings))
        router.add(.POST, "/sse/messages", ServerSentEventsMessageEndpoint(
            authenticator: admission.authenticator, connections: connections, maxBodyBytes: maxMessageBytes,
            replyTimeout: settings.replyTimeout))
        router.add(.OPTIONS, "/sse", PreflightEndpoint(methods: "GET"))
        router.add(.OPTIONS, "/sse/messages", PreflightEndpoint(methods: "POST"))
    }
}
