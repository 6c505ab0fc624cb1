import HeraldProtocol
import Logging
import NIOCore

/// One Engine.IO v4 session and the Socket.IO v5 socket on its default namespace: the
/// ``SessionTransport`` of a Socket.IO client's ``Session``.
///
/// It outlives any one HTTP connection: packets travel by long-polling (a bounded queue between
/// polls) or over a WebSocket (``EngineIOWebSocketCarrier``), and a polling session upgrades to
/// WebSocket (probe `2probe`/`3probe`, then `5`). The server pings every `pingInterval`; a client
/// that stops answering falls silent and the session's idle rule closes it. The Herald session
/// starts at the Socket.IO `CONNECT`, whose `auth` carries the token and the offset to recover
/// from; until then a deadline runs. Confined to the event loop it was created on.
final class SocketIOTransport: SessionTransport {
    /// Timing and limits of every Engine.IO session of a node.
    struct Settings: Sendable {
        /// Between server pings (sent in the open packet).
        var pingInterval: TimeAmount
        /// How long a client waits for a ping past the interval before it gives up (open packet).
        var pingTimeout: TimeAmount
        /// Largest polling body a client may post (the open packet's `maxPayload`), and the size a
        /// polling answer aims at.
        var maxPayloadBytes: Int
        /// Bytes queued for a polling client before it counts as too slow (the outbound limit).
        var maxQueuedBytes: Int
        /// Time from the handshake to an accepted `CONNECT`.
        var connectTimeout: TimeAmount
        /// How long a closing WebSocket may take to flush before it is cut.
        var closeGrace: TimeAmount = .seconds(2)
        /// Packets one polling answer carries at most (python-engineio reads at most 16).
        var maxPacketsPerPoll = 16
        /// Packets one polling `POST` may carry.
        var maxPacketsPerPost = 64
    }

    private enum Phase {
        case awaitingConnect
        /// The `CONNECT`'s credentials are being checked.
        case connecting
        case connected(Session)
        case closed
    }

    let sid: String
    let eventLoop: EventLoop
    let encoding: FrameEncodings.Index
    private let settings: Settings
    private let admission: SessionAdmission
    private let sessions: SessionFactory
    private let registry: SocketIOSessions
    /// The token and origin of the handshake request, for a `CONNECT` without `auth.token`.
    private let handshakeToken: String?
    private let origin: String?
    private let logger: Logger
    private var phase = Phase.awaitingConnect
    /// The WebSocket carrying packets; nil while polling.
    private var carrier: EngineIOWebSocketCarrier?
    /// A WebSocket that sent the upgrade probe and has not yet sent `5`.
    private var probing: EngineIOWebSocketCarrier?
    private var queue: EngineIOPollingQueue
    private var pendingPoll: EventLoopPromise<[UInt8]>?
    private var pingTask: RepeatedTask?
    private var connectDeadline: Scheduled<Void>?
    private var wasWritable = true

    init(
        sid: String, eventLoop: EventLoop, encoding: FrameEncodings.Index, settings: Settings, admission: SessionAdmission,
        sessions: SessionFactory, registry: SocketIOSessions, handshakeToken: String?, origin: String?, logger: Logger
    ) {
        self.sid = sid
        self.eventLoop = eventLoop
        self.encoding = encoding
        self.settings = settings
        self.admission = admission
        self.sessions = sessions
        self.registry = registry
        self.handshakeToken = handshakeToken
        self.origin = origin
        self.queue = EngineIOPollingQueue(maxPacketsPerPoll: settings.maxPacketsPerPoll, maxBatchBytes: settings.maxPayloadBytes)
        var logger = logger
        logger[metadataKey: "engineio.sid"] = "\(sid)"
        self.logger = logger
    }

    private var session: Session? {
        if case .connected(let session) = phase { return session }
        return nil
    }

    // MARK: Life cycle

    /// Starts the session's timers and returns the open packet. A session that begins on a
    /// WebSocket (`socket`) is carried by it; a polling one may upgrade (`upgrades: ["websocket"]`).
    func open(over socket: EngineIOWebSocketCarrier?) -> [UInt8] {
        carrier = socket
        let upgradable = socket == nil
        let transport = NIOLoopBound(self, eventLoop: eventLoop)
        pingTask = eventLoop.scheduleRepeatedTask(initialDelay: settings.pingInterval, delay: settings.pingInterval) { _ in
            transport.value.ping()
        }
        connectDeadline = eventLoop.assumeIsolated().scheduleTask(in: settings.connectTimeout) {
            if case .connected = self.phase { return }
            self.logger.debug("no CONNECT in time")
            self.close(code: .normal, reason: "no CONNECT in time")
        }
        let open = "{\"sid\":\"\(sid)\",\"upgrades\":\(upgradable ? "[\"websocket\"]" : "[]"),"
            + "\"pingInterval\":\(settings.pingInterval.nanoseconds / 1_000_000),\"pingTimeout\":\(settings.pingTimeout.nanoseconds / 1_000_000),"
            + "\"maxPayload\":\(settings.maxPayloadBytes)}"
        return EngineIOPacket.open(Array(open.utf8)).encoded
    }

    private func ping() {
        if case .closed = phase { return }
        if let session { guard session.admitOutbound() else { return } }
        send(packet: EngineIOPacket.ping([]).encoded)
        flush()
    }

    // MARK: Carriers

    /// A WebSocket naming this session opened: an upgrade candidate until its probe and `5`
    /// (a session that began on a WebSocket is carried by it from ``open(over:)`` on).
    func attached(_ socket: EngineIOWebSocketCarrier) {
        if case .closed = phase {
            socket.close(code: .normal, reason: "session closed", grace: settings.closeGrace)
        }
    }

    func carrierClosed(_ socket: EngineIOWebSocketCarrier) {
        if socket === probing {
            probing = nil
        } else if socket === carrier {
            end()
        }
    }

    func writabilityChanged(isWritable: Bool, carrier socket: EngineIOWebSocketCarrier) {
        guard socket === carrier else { return }
        session?.writabilityChanged(isWritable: isWritable)
    }

    // MARK: Polling

    /// A polling `GET`: answered with the queued packets at once, or when the next ones are
    /// flushed (a ping comes every interval, so a poll never waits longer than that).
    func poll() -> EventLoopFuture<[UInt8]> {
        if case .closed = phase {
            // The last packets of a closed session (its close among them) are still fetched once.
            guard !queue.isEmpty else { return eventLoop.makeFailedFuture(SocketIOPollError.unknownSession) }
            let body = queue.takeBatch()
            if queue.isEmpty { registry.remove(sid: sid) }
            return eventLoop.makeSucceededFuture(body)
        }
        guard carrier == nil else { return eventLoop.makeFailedFuture(SocketIOPollError.afterUpgrade) }
        guard pendingPoll == nil else {
            // Two polls at once break the protocol (Engine.IO closes the session too).
            end()
            return eventLoop.makeFailedFuture(SocketIOPollError.overlappingPoll)
        }
        let promise = eventLoop.makePromise(of: [UInt8].self)
        pendingPoll = promise
        answerPoll()
        return promise.futureResult
    }

    /// A polling `POST`: its packets, in order.
    func post(_ body: [UInt8]) -> EventLoopFuture<Void> {
        if case .closed = phase { return eventLoop.makeFailedFuture(SocketIOPollError.unknownSession) }
        guard let packets = EngineIOPacket.split(body, maxPackets: settings.maxPacketsPerPost) else {
            close(code: .protocolError, reason: "not an Engine.IO payload")
            return eventLoop.makeFailedFuture(SocketIOPollError.notAPayload)
        }
        for packet in packets { receive(packet, from: nil) }
        return eventLoop.makeSucceededVoidFuture()
    }

    private func answerPoll() {
        guard let promise = pendingPoll, !queue.isEmpty else { return }
        pendingPoll = nil
        promise.succeed(queue.takeBatch())
        if !wasWritable, isWritable {
            wasWritable = true
            session?.writabilityChanged(isWritable: true)
        }
    }

    // MARK: Inbound

    /// One Engine.IO packet from the client (`from` nil: a polling `POST`); nil is one Herald
    /// cannot read (binary, unknown type).
    func receive(_ packet: EngineIOPacket?, from socket: EngineIOWebSocketCarrier?) {
        if case .closed = phase { return }
        if let socket, socket !== carrier {
            upgrade(packet, over: socket)
            return
        }
        guard let packet else {
            receiveUnsupported(from: socket)
            return
        }
        session?.receivedActivity()
        switch packet {
        case .ping(let data):
            if let session {
                session.receivePing(ByteBuffer(bytes: data))
            } else {
                send(packet: EngineIOPacket.pong(data).encoded)
                flush()
            }
        case .message(let data):
            receiveSocketIO(data)
        case .close:
            end()
        case .pong, .open, .upgrade, .noop:
            break
        }
    }

    /// The upgrade of a polling session, on the new WebSocket: `2probe` is answered `3probe`
    /// (and the waiting poll is released with a noop), then `5` moves every queued packet onto
    /// the WebSocket, which carries the session from then on.
    private func upgrade(_ packet: EngineIOPacket?, over socket: EngineIOWebSocketCarrier) {
        switch packet {
        case .ping(let data) where data.elementsEqual("probe".utf8):
            probing = socket
            socket.write(packet: ByteBuffer(bytes: EngineIOPacket.pong(data).encoded))
            socket.flush()
            if let promise = pendingPoll {
                pendingPoll = nil
                promise.succeed(EngineIOPacket.noop.encoded)
            }
        case .upgrade where socket === probing:
            probing = nil
            carrier = socket
            for packet in queue.takeAll() { socket.write(packet: packet) }
            socket.flush()
            if let promise = pendingPoll {
                pendingPoll = nil
                promise.succeed(EngineIOPacket.noop.encoded)
            }
            session?.receivedActivity()
        default:
            break
        }
    }

    func receiveUnsupported(from socket: EngineIOWebSocketCarrier?) {
        if let socket, socket !== carrier {
            socket.close(code: .unsupportedData, reason: "binary frames are not supported", grace: settings.closeGrace)
            return
        }
        close(code: .unsupportedData, reason: "binary attachments are not supported: send JSON")
    }

    private func receiveSocketIO(_ data: [UInt8]) {
        guard let packet = SocketIOPacket(data) else {
            close(code: .protocolError, reason: "not a Socket.IO packet")
            return
        }
        switch packet.kind {
        case .connect:
            connect(packet)
        case .disconnect:
            end()
        case .event:
            guard let session, packet.namespace == "/" else { return }
            if let message = packet.clientMessage() {
                session.receive(text: message)
            } else {
                session.receive(text: packet.data)  // refused as malformed, through flood control
            }
        case .binaryEvent, .binaryAck:
            close(code: .unsupportedData, reason: "binary attachments are not supported: send JSON")
        case .ack, .connectError:
            break  // the server asks no acks of the client
        }
    }

    /// `CONNECT` on the default namespace: the session admission with the `auth` object's token
    /// (or the handshake's), its `offset`/`since` and `channels`; then the answer `40{sid,pid}`,
    /// and the Herald session starts (its `connected` event first). A refusal is `44` and the
    /// client may try again until the connect deadline.
    private func connect(_ packet: SocketIOPacket) {
        guard packet.namespace == "/" else {
            send(packet: SocketIOPacketEncoder.connectError(
                code: .notFound, message: "only the default namespace '/' exists on Herald", namespace: packet.namespace))
            flush()
            return
        }
        guard case .awaitingConnect = phase else { return }
        guard let auth = packet.authentication() else {
            send(packet: SocketIOPacketEncoder.connectError(code: .badRequest, message: "auth must be an object: { token }"))
            flush()
            return
        }
        phase = .connecting
        let credentials = HandshakeAuthenticator.Credentials(
            token: auth.token ?? handshakeToken, origin: origin, since: auth.since, channels: auth.channels)
        admission.admit(credentials, on: eventLoop).assumeIsolated().whenComplete { result in
            guard case .connecting = self.phase else { return }
            switch result {
            case .success(let acceptance):
                do {
                    let session = try self.sessions.makeSession(for: acceptance, on: self.eventLoop)
                    self.phase = .connected(session)
                    self.connectDeadline?.cancel()
                    self.connectDeadline = nil
                    // A client that came back with its offset keeps its pid (`socket.recovered`
                    // is then true: recovery ran; the `recovery` event says how it went).
                    let pid = auth.since != nil ? auth.pid ?? SocketIOSessions.newSID() : SocketIOSessions.newSID()
                    self.send(packet: SocketIOPacketEncoder.connected(socketID: session.connectionID, pid: pid))
                    session.start(on: self)
                    self.flush()
                } catch {
                    self.close(code: .internalError, reason: "no session")
                }
            case .failure(let error):
                self.phase = .awaitingConnect
                let refusal = error as? HTTPRefusal ?? HTTPRefusal(status: .unauthorized, code: .unauthorized, message: "authentication failed")
                self.send(packet: SocketIOPacketEncoder.connectError(code: refusal.code, message: refusal.message))
                self.flush()
            }
        }
    }

    // MARK: Encoding (SessionTransport)

    var isWritable: Bool {
        if let carrier { return carrier.isWritable }
        return queue.bytes < settings.maxQueuedBytes
    }

    /// An Engine.IO packet's text, on whichever carrier is current.
    private func send(packet: [UInt8]) {
        send(packet: ByteBuffer(bytes: packet))
    }

    private func send(packet: ByteBuffer) {
        if let carrier {
            carrier.write(packet: packet)
        } else {
            queue.append(packet)
            if wasWritable, !isWritable { wasWritable = false }
        }
    }

    func writeEncoded(_ frame: ByteBuffer) {
        if let carrier {
            carrier.write(frame)
        } else {
            send(packet: SocketIOFrame.packet(in: frame))
        }
    }

    func writeEvent(_ payload: ByteBuffer) {
        let offset = EventRouting.decode(payload.readableBytesView)?.offset
        send(packet: SocketIOPacketEncoder.event(payload, offset: offset, allocator: ByteBufferAllocator()))
    }

    func writeMessage(_ message: ServerMessage) {
        send(packet: SocketIOPacketEncoder.message(message, allocator: ByteBufferAllocator()))
    }

    func writeText(_ text: String) {
        send(packet: Array("42[\"message\",\(SocketIOPacketEncoder.jsonString(text))]".utf8))
    }

    func writePong(_ payload: ByteBuffer) {
        send(packet: EngineIOPacket.pong(Array(payload.readableBytesView)).encoded)
    }

    func flush() {
        if let carrier {
            carrier.flush()
        } else {
            answerPoll()
        }
    }

    /// Ends the session from the server's side. A close the client should not retry (a flood,
    /// a protocol error, binary data) is a Socket.IO `DISCONNECT` first, after which Socket.IO
    /// clients stay disconnected; otherwise (drain, idle, slow consumer) only the Engine.IO
    /// `close`, after which they reconnect by themselves — and recover with their offset.
    func close(code: CloseCode, reason: String) {
        if case .closed = phase { return }
        logger.debug("closing socket.io session", metadata: ["close.code": "\(code.rawValue)", "close.reason": "\(reason)"])
        switch code {
        case .policyViolation, .protocolError, .unsupportedData, .invalidPayload, .messageTooBig:
            if session != nil { send(packet: SocketIOPacketEncoder.disconnect) }
        default:
            break
        }
        send(packet: EngineIOPacket.close.encoded)
        flush()
        carrier?.close(code: code, reason: reason, grace: settings.closeGrace)
        end()
    }

    /// Stops everything: the Herald session, the timers, the registry entry; a waiting poll gets
    /// what is queued (the close packet) or a close.
    private func end() {
        if case .closed = phase { return }
        let session = self.session
        phase = .closed
        session?.transportClosed()
        if carrier == nil, pendingPoll == nil, !queue.isEmpty {
            // A polling client learns of the close at its next poll: keep the entry that long.
            let (registry, sid) = (self.registry, self.sid)
            eventLoop.scheduleTask(in: settings.closeGrace) { registry.remove(sid: sid) }
        } else {
            registry.remove(sid: sid)
        }
        pingTask?.cancel()
        pingTask = nil
        connectDeadline?.cancel()
        connectDeadline = nil
        if let promise = pendingPoll {
            pendingPoll = nil
            promise.succeed(queue.isEmpty ? EngineIOPacket.close.encoded : queue.takeBatch())
        }
        carrier?.close(code: .normal, reason: "", grace: settings.closeGrace)
        probing?.close(code: .normal, reason: "", grace: settings.closeGrace)
        // The sockets' handlers hold this transport: let go of them so nothing keeps a cycle.
        carrier = nil
        probing = nil
    }
}
