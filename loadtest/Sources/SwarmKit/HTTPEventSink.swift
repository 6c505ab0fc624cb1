import NIOCore
import NIOHTTP1
import NIOPosix

/// Publishes over HTTP/1.1 keep-alive connections, one request in flight per connection (no
/// pipelining). Account `a` always uses the same connection, so an account's events stay in
/// order; `connectionsPerEndpoint` connections per endpoint run side by side. A 2xx answer is a
/// success; anything else, or a lost connection, marks the event failed. Closed connections are
/// reopened on the next event.
///
/// Confined to the publisher event loop (hence `@unchecked Sendable`).
final class HTTPEventSink: EventSink, @unchecked Sendable {
    enum Body: Sendable {
        /// Herald's `POST /api/v1/publish` with the API key.
        case heraldAPI(apiKey: String)
        /// The event itself, POSTed to the endpoint's path template.
        case rawEvent
    }

    private let endpoints: [Endpoint]
    private let body: Body
    private let loop: any EventLoop
    private let encoder: EventEncoder
    private let ledger: PublishLedger
    private let lanes: [PublishLane]
    private let maxQueuedPerLane: Int

    init(
        endpoints: [Endpoint], body: Body, loop: any EventLoop, encoder: EventEncoder, ledger: PublishLedger,
        connectionsPerEndpoint: Int = 8, maxQueuedPerLane: Int = 5_000
    ) {
        self.endpoints = endpoints
        self.body = body
        self.loop = loop
        self.encoder = encoder
        self.ledger = ledger
        self.maxQueuedPerLane = maxQueuedPerLane
        self.lanes = endpoints.flatMap { endpoint in (0..<connectionsPerEndpoint).map { _ in PublishLane(endpoint: endpoint) } }
    }

    func start() -> EventLoopFuture<Void> {
        loop.makeSucceededVoidFuture()
    }

    var canAccept: Bool { true }
    var backlog: Int { lanes.reduce(0) { $0 + $1.queue.count + ($1.inFlight == nil ? 0 : 1) } }

    func submit(_ event: PendingEvent) {
        loop.preconditionInEventLoop()
        let lane = lanes[event.account % lanes.count]
        guard lane.queue.count < maxQueuedPerLane else {
            ledger.recordSkip()
            ledger.recordFailure(account: event.account, sequence: event.sequence)
            return
        }
        lane.queue.append(event)
        pump(lane)
    }

    /// Sends the lane's next event if it is idle, connecting first if needed.
    private func pump(_ lane: PublishLane) {
        guard lane.inFlight == nil, !lane.queue.isEmpty else { return }
        guard let channel = lane.channel else {
            connect(lane)
            return
        }
        let event = lane.queue.removeFirst()
        lane.inFlight = event
        let account = encoder.accountName(event.account)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: lane.endpoint.hostHeader)
        headers.add(name: "Content-Type", value: "application/json")
        let text: String
        let path: String
        switch body {
        case .heraldAPI(let key):
            headers.add(name: "Authorization", value: "Bearer \(key)")
            text = encoder.heraldAPIBody(event)
            path = lane.endpoint.pathTemplate == "/" ? "/api/v1/publish" : lane.endpoint.path(account: account)
        case .rawEvent:
            text = encoder.event(event)
            path = lane.endpoint.path(account: account)
        }
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    private func connect(_ lane: PublishLane) {
        guard !lane.connecting else { return }
        lane.connecting = true
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPStatusHandler { status in self.answered(lane, status: status) })
                }
            }
            .connect(host: lane.endpoint.host, port: lane.endpoint.port)
            .whenComplete { result in
                lane.connecting = false
                switch result {
                case .success(let channel):
                    lane.channel = channel
                    channel.closeFuture.whenComplete { _ in self.closed(lane, channel: channel) }
                    self.pump(lane)
                case .failure:
                    while let event = lane.queue.popFirst() { self.ledger.recordFailure(account: event.account, sequence: event.sequence) }
                }
            }
    }

    private func answered(_ lane: PublishLane, status: UInt) {
        if let event = lane.inFlight, !(200..<300).contains(status) {
            ledger.recordFailure(account: event.account, sequence: event.sequence)
        }
        lane.inFlight = nil
        pump(lane)
    }

    private func closed(_ lane: PublishLane, channel: Channel) {
        guard lane.channel === channel else { return }
        lane.channel = nil
        if let event = lane.inFlight {
            ledger.recordFailure(account: event.account, sequence: event.sequence)
            lane.inFlight = nil
        }
        pump(lane)
    }

    func stop() -> EventLoopFuture<Void> {
        let closes = lanes.compactMap { $0.channel?.close().recover { _ in } }
        return EventLoopFuture.andAllComplete(closes, on: loop)
    }
}

/// One keep-alive connection of the HTTP sink and its queue (confined to the publisher loop).
final class PublishLane: @unchecked Sendable {
    let endpoint: Endpoint
    var channel: Channel?
    var connecting = false
    var queue = CircularBuffer<PendingEvent>()
    var inFlight: PendingEvent?

    init(endpoint: Endpoint) { self.endpoint = endpoint }
}

/// Reports the status of each complete HTTP response.
final class HTTPStatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let onResponse: (UInt) -> Void
    private var status: UInt = 0

    init(onResponse: @escaping (UInt) -> Void) { self.onResponse = onResponse }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = head.status.code
        case .body: break
        case .end: onResponse(status)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
