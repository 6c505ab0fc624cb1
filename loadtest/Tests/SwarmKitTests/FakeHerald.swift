import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Just enough of Herald's recovery protocol to test `--resume` against: `GET
/// /ws/accounts/{account}/?token=…&since=e:<n>-0` upgrades, sends `connected` with the account's
/// position (`e:<events so far>-0`) and, with `since`, replays the events after it and sends
/// `recovery`; `POST /pub/{account}` stores the body as event n+1 with `"offset":"e:<n+1>-0"` put
/// first and sends it to the account's connections. One lock orders history, replays and live
/// delivery, so a correct fake neither loses nor duplicates.
///
/// `resumeDelay` holds a resumed connection back before it is admitted, so events published
/// meanwhile must come from the replay; `fault` breaks that replay on purpose.
final class FakeHerald: Sendable {
    enum Fault: Sendable {
        /// Replays correctly.
        case none
        /// Answers every resume `recovered:true` without replaying anything (silent loss).
        case replayNothing
        /// Answers every resume `recovered:false` (a reported gap).
        case gap
    }

    struct State {
        var history: [String: [ByteBuffer]] = [:]
        var subscribers: [String: [ObjectIdentifier: Channel]] = [:]
        var resumes = 0
    }

    let port: Int
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup
    let state: NIOLockedValueBox<State>

    private init(channel: Channel, group: MultiThreadedEventLoopGroup, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.group = group
        self.state = state
        self.port = channel.localAddress?.port ?? 0
    }

    static func start(fault: Fault, resumeDelay: TimeAmount = .milliseconds(150)) async throws -> FakeHerald {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let state = NIOLockedValueBox(State())
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 16, automaticErrorHandling: true,
                    shouldUpgrade: { channel, head in
                        channel.eventLoop.makeSucceededFuture(head.uri.hasPrefix("/ws/accounts/") ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, head in
                        let (account, since) = Self.parse(uri: head.uri)
                        let admit: @Sendable () -> Void = {
                            Self.admit(channel: channel, account: account, since: since, fault: fault, state: state)
                        }
                        if since == nil { admit() } else { channel.eventLoop.scheduleTask(in: resumeDelay, admit) }
                        channel.closeFuture.whenComplete { _ in
                            state.withLockedValue { _ = $0.subscribers[account]?.removeValue(forKey: ObjectIdentifier(channel)) }
                        }
                        return channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(FakeSessionHandler())
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.removeHandler(name: "fake.publish", promise: nil)
                        }))
                    try channel.pipeline.syncOperations.addHandler(FakePublishHandler(state: state), name: "fake.publish")
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        return FakeHerald(channel: channel, group: group, state: state)
    }

    func stop() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }

    var resumes: Int { state.withLockedValue { $0.resumes } }

    /// `/ws/accounts/acct0/?token=…&since=e:5-0` → ("acct0", 5).
    static func parse(uri: String) -> (account: String, since: Int?) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        let account = parts[0].split(separator: "/").last.map(String.init) ?? ""
        var since: Int?
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") where pair.hasPrefix("since=e:") {
                since = Int(pair.dropFirst("since=e:".count).prefix { $0 != "-" })
            }
        }
        return (account, since)
    }

    private static func admit(channel: Channel, account: String, since: Int?, fault: Fault, state: NIOLockedValueBox<State>) {
        func sendBuffer(_ buffer: ByteBuffer) { channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil) }
        func send(_ text: String) { sendBuffer(ByteBuffer(string: text)) }
        state.withLockedValue { state in
            guard channel.isActive else { return }
            let history = state.history[account] ?? []
            send(#"{"type":"connected","connection_id":"fake-1","node":"fake","account":"\#(account)","offset":"e:\#(history.count)-0"}"#)
            if let since {
                state.resumes += 1
                switch fault {
                case .none:
                    let replay = history.count > since ? Array(history[since...]) : []
                    replay.forEach(sendBuffer)
                    send(#"{"type":"recovery","recovered":true,"count":\#(replay.count)}"#)
                case .replayNothing:
                    send(#"{"type":"recovery","recovered":true,"count":0}"#)
                case .gap:
                    send(#"{"type":"recovery","recovered":false,"count":0,"reason":"out_of_window"}"#)
                }
            }
            state.subscribers[account, default: [:]][ObjectIdentifier(channel)] = channel
        }
    }
}

/// After the upgrade: answers pings and closes, ignores client messages.
private final class FakeSessionHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .connectionClose {
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer())), promise: nil)
            context.close(promise: nil)
        }
    }
}

/// `POST /pub/{account}`: stamps the body with the next offset, stores it and sends it.
private final class FakePublishHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: NIOLockedValueBox<FakeHerald.State>
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(state: NIOLockedValueBox<FakeHerald.State>) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head, head.uri.hasPrefix("/pub/") else { return }
            let account = String(head.uri.dropFirst("/pub/".count))
            var rest = body
            rest.moveReaderIndex(forwardBy: 1)  // the body's "{"
            state.withLockedValue { state in
                let index = (state.history[account]?.count ?? 0) + 1
                var event = ByteBuffer(string: #"{"offset":"e:\#(index)-0","#)
                event.writeBuffer(&rest)
                state.history[account, default: []].append(event)
                let frame = WebSocketFrame(fin: true, opcode: .text, data: event)
                for channel in (state.subscribers[account] ?? [:]).values { channel.writeAndFlush(frame, promise: nil) }
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "2")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{}")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
