import AsyncHTTPClient
import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import NIOHTTP1

/// Client messages POSTed to a backend's HTTP endpoint (`HERALD_UPSTREAM_URL`), one request each:
/// the body is the message as JSON (``UpstreamMessage/json()``), signed with HMAC-SHA256 over the
/// body (``UpstreamSignature``). A 2xx answer accepts the message; its body, when it has one,
/// must be JSON and goes back to the sender as `reply`. Anything else — another status, no
/// answer within the timeout, a body that is not JSON or too large — fails with
/// ``UpstreamError/failed(_:)``.
///
/// Concurrency is bounded per node (``Configuration/maxConcurrentRequests`` in flight, a bounded
/// queue behind them), so a slow endpoint cannot make the node hold unbounded work.
public final class HTTPUpstreamSink: UpstreamSink {
    public struct Configuration: Sendable {
        /// The endpoint, `http://` or `https://`.
        public var url: String
        /// The shared secret the signature is keyed with.
        public var secret: String
        /// How long one request may take, connecting included.
        public var timeout: TimeAmount
        /// Requests in flight at once per node.
        public var maxConcurrentRequests: Int
        /// Requests that may wait for a free slot; more fail at once.
        public var maxQueuedRequests: Int
        /// Largest reply body accepted.
        public var maxReplyBytes: Int

        public init(
            url: String, secret: String, timeout: TimeAmount = .seconds(5), maxConcurrentRequests: Int = 64,
            maxQueuedRequests: Int = 1024, maxReplyBytes: Int = 64 * 1024
        ) {
            self.url = url
            self.secret = secret
            self.timeout = timeout
            self.maxConcurrentRequests = maxConcurrentRequests
            self.maxQueuedRequests = maxQueuedRequests
            self.maxReplyBytes = maxReplyBytes
        }
    }

    private let configuration: Configuration
    private let client: HTTPClient
    private let signature: UpstreamSignature
    private let slots: RequestSlots
    private let eventLoop: EventLoop
    private let logger: Logger

    /// Fails when the URL is not an absolute `http(s)://` URL.
    public init(configuration: Configuration, eventLoop: EventLoop, logger: Logger) throws {
        _ = try HTTPClient.Request(url: configuration.url, method: .POST)
        var client = HTTPClient.Configuration()
        client.timeout = .init(connect: configuration.timeout, read: configuration.timeout)
        client.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConcurrentRequests)
        client.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroup: eventLoop, configuration: client, backgroundActivityLogger: logger)
        self.configuration = configuration
        self.signature = UpstreamSignature(secret: configuration.secret)
        self.slots = RequestSlots(limit: configuration.maxConcurrentRequests, queueLimit: configuration.maxQueuedRequests)
        self.eventLoop = eventLoop
        self.logger = logger
    }

    public var destination: String { "HTTP \(configuration.url)" }

    public func send(_ message: UpstreamMessage) -> EventLoopFuture<UpstreamReceipt> {
        slots.acquire(on: eventLoop)
            .flatMapErrorThrowing { error in throw UpstreamError.failed("\(error)") }
            .flatMap { self.post(message.json()).always { _ in self.slots.release() } }
    }

    private func post(_ body: [UInt8]) -> EventLoopFuture<UpstreamReceipt> {
        let request: HTTPClient.Request
        do {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: UpstreamSignature.headerName, value: signature.header(for: body))
            request = try HTTPClient.Request(url: configuration.url, method: .POST, headers: headers, body: .bytes(body))
        } catch {
            return eventLoop.makeFailedFuture(UpstreamError.failed("\(error)"))
        }
        let timeout = configuration.timeout
        let accumulator = ResponseAccumulator(request: request, maxBodySize: configuration.maxReplyBytes)
        return client.execute(request: request, delegate: accumulator, eventLoop: .delegate(on: eventLoop), deadline: .now() + timeout)
            .futureResult
            .flatMapErrorThrowing { error -> HTTPClient.Response in
                if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                    throw UpstreamError.failed("no answer within \(timeout.nanoseconds / 1_000_000) ms")
                }
                throw UpstreamError.failed("\(error)")
            }
            .flatMapThrowing { response in try Self.receipt(response) }
    }

    /// A 2xx with an empty body accepts; with a JSON body, replies; anything else fails.
    static func receipt(_ response: HTTPClient.Response) throws -> UpstreamReceipt {
        guard (200..<300).contains(response.status.code) else {
            throw UpstreamError.failed("the endpoint answered \(response.status.code)")
        }
        guard let body = response.body, body.readableBytesView.contains(where: { !Self.isWhitespace($0) }) else { return .accepted }
        do {
            _ = try JSONScanner().scan(body.readableBytesView)
        } catch {
            throw UpstreamError.failed("the endpoint's 2xx body is not JSON: \(error)")
        }
        return .reply(Array(body.readableBytesView))
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    public func shutdown() -> EventLoopFuture<Void> {
        slots.failWaiting(UpstreamError.failed("the node is shutting down"))
        return client.shutdown()
    }
}
