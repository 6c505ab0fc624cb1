import Foundation
import HeraldProtocol
import NIOCore
import NIOHTTP1

/// `GET /api/v1/accounts/{account}/presence`: who is online in an account. An API key may read
/// the presence of the accounts it may publish to: any, or those of its scope.
struct PresenceEndpoint: HTTPEndpoint {
    let presence: PresenceTracker
    let apiKeys: APIKeyVerifier

    func admit(_ head: HTTPRequestHead, parameters: [String]) -> HTTPRefusal? {
        if let refusal = apiKeys.refusal(for: head) { return refusal }
        guard AccountName.isValid(parameters[0]) else {
            return PublishRequest.bad("the account must be \(AccountName.rule) (percent-encoded in the path where needed)")
        }
        return apiKeys.refusal(for: head, account: parameters[0])
    }

    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse> {
        let account = request.parameters[0]
        return presence.users(account: account).hop(to: eventLoop).map { users in
            let entries: [[String: Any]] = users.map { user in
                var entry: [String: Any] = ["user": user.user, "connections": user.connections]
                if let info = user.info, let object = try? JSONSerialization.jsonObject(with: Data(info.utf8), options: [.fragmentsAllowed]) {
                    entry["info"] = object
                }
                return entry
            }
            return .json(.ok, ["account": account, "users": entries])
        }.recover { error in
            HTTPResponse(HTTPRefusal(status: .serviceUnavailable, code: .unavailable, message: "presence is unavailable: \(error)"))
        }
    }
}
