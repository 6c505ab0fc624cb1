import HeraldBroker
import HeraldProtocol
import NIOCore
import NIOHTTP1

/// `POST /api/v1/publish` and `POST /api/v1/publish/batch`: events from a backend, validated
/// once and published through the broker (with history unless asked otherwise). A scoped API key
/// may only publish to its accounts: one event of a batch outside the scope refuses the whole
/// batch (403 `account_forbidden`, naming its index) before anything is published.
struct PublishEndpoint: HTTPEndpoint {
    let broker: any EventBroker
    let apiKeys: APIKeyVerifier
    let metrics: NodeMetrics
    let maxBodyBytes: Int
    /// `{"events": [...]}` with per-event results, rather than one event.
    let batch: Bool

    /// The most events one batch request may carry.
    static let maximumBatchSize = 1000

    func admit(_ head: HTTPRequestHead, parameters: [String]) -> HTTPRefusal? {
        apiKeys.refusal(for: head)
    }

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        let requests: [PublishRequest]
        do throws(HTTPRefusal) {
            requests = batch
                ? try PublishRequest.parseBatch(body: request.body, maximumCount: Self.maximumBatchSize)
                : [try PublishRequest.parse(body: request.body)]
        } catch {
            return eventLoop.makeSucceededFuture(HTTPResponse(error))
        }
        let scope = (try? apiKeys.scope(for: request.head.headers)) ?? .noAccount
        if let index = requests.firstIndex(where: { !scope.allows($0.account) }) {
            var refusal = HTTPRefusal(AuthenticationError.accountForbidden(requests[index].account))
            if batch { refusal.message = "events[\(index)]: \(refusal.message)" }
            return eventLoop.makeSucceededFuture(HTTPResponse(refusal))
        }
        let publishes = requests.map { request in
            broker.publish(account: request.account, payload: ByteBuffer(bytes: request.event), history: request.history)
        }
        let (metrics, batch) = (self.metrics, self.batch)
        if !batch, let publish = publishes.first {
            // One event: its answer straight from its own future.
            return publish.hop(to: eventLoop)
                .map { Self.response(to: .success($0), metrics: metrics) }
                .recover { Self.response(to: .failure($0), metrics: metrics) }
        }
        return EventLoopFuture.whenAllComplete(publishes, on: eventLoop).map { results in
            var status = HTTPResponseStatus.ok
            var body: [UInt8] = []
            body.reserveCapacity(batch ? 16 + results.count * 48 : 48)
            if batch { body.append(contentsOf: #"{"results":["#.utf8) }
            for (index, result) in results.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                status = Self.appendAnswer(result, to: &body, metrics: metrics)
            }
            if batch {
                body.append(contentsOf: "]}".utf8)
                status = .ok
            }
            return HTTPResponse(status: status, body: body)
        }
    }

    /// The answer to a single publish.
    private static func response(to result: Result<PublishReceipt, any Error>, metrics: NodeMetrics) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(48)
        let status = appendAnswer(result, to: &body, metrics: metrics)
        return HTTPResponse(status: status, body: body)
    }

    /// Appends one publish's answer object to `body` (keys sorted, as the API has always
    /// answered) and returns its status: `{"nodes":…,"offset":…}`, or `{"error":…,"message":…}`.
    /// Written by hand: the publish path answers thousands of these a second.
    private static func appendAnswer(_ result: Result<PublishReceipt, any Error>, to body: inout [UInt8], metrics: NodeMetrics) -> HTTPResponseStatus {
        switch result {
        case .success(let receipt):
            metrics.publishes.increment()
            body.append(contentsOf: #"{"nodes":"#.utf8)
            body.append(contentsOf: (receipt.nodes.map(String.init) ?? "null").utf8)
            body.append(contentsOf: #","offset":"#.utf8)
            if let offset = receipt.offset { JSONText.append(offset, to: &body) } else { body.append(contentsOf: "null".utf8) }
            body.append(UInt8(ascii: "}"))
            return .ok
        case .failure(let error):
            metrics.publishFailures.increment()
            let refused = (error as? BrokerError)?.isRefusal == true
            body.append(contentsOf: #"{"error":"#.utf8)
            JSONText.append((refused ? ErrorCode.badRequest : ErrorCode.unavailable).rawValue, to: &body)
            body.append(contentsOf: #","message":"#.utf8)
            JSONText.append("\(error)", to: &body)
            body.append(UInt8(ascii: "}"))
            return refused ? .badRequest : .serviceUnavailable
        }
    }
}
