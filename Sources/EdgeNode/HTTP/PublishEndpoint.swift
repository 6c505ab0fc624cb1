import Foundation
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
        return EventLoopFuture.whenAllComplete(publishes, on: eventLoop).map { results in
            let answers = results.map { result -> (status: HTTPResponseStatus, body: [String: Any]) in
                switch result {
                case .success(let receipt):
                    metrics.publishes.increment()
                    return (.ok, ["offset": receipt.offset ?? NSNull(), "nodes": receipt.nodes ?? NSNull()])
                case .failure(let error as BrokerError) where error.isRefusal:
                    metrics.publishFailures.increment()
                    return (.badRequest, ["error": ErrorCode.badRequest.rawValue, "message": "\(error)"])
                case .failure(let error):
                    metrics.publishFailures.increment()
                    return (.serviceUnavailable, ["error": ErrorCode.unavailable.rawValue, "message": "\(error)"])
                }
            }
            if batch { return .json(.ok, ["results": answers.map(\.body)]) }
            return .json(answers[0].status, answers[0].body)
        }
    }
}
