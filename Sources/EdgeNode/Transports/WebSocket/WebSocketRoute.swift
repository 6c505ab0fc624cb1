import Foundation
import HeraldProtocol

/// A parsed request target for the WebSocket endpoints: `/ws` or `/ws/accounts/{account}/`,
/// with the query parameters Herald reads.
struct WebSocketRoute: Sendable, Equatable {
    /// The account named in the path; nil for `/ws`, where the token decides.
    var pathAccount: String?
    /// `?token=`
    var token: String?
    /// `?since=` (history recovery)
    var since: String?
    /// `?channels=a,b`: sub-channels joined before the first frame, so a replay includes them.
    var channels: [String]?

    /// Parses `uri`; nil when it is not a WebSocket endpoint.
    init?(uri: String) {
        guard let components = URLComponents(string: uri) else { return nil }
        let segments = components.path.split(separator: "/", omittingEmptySubsequences: true)
        switch segments.count {
        case 1 where segments[0] == "ws":
            pathAccount = nil
        case 3 where segments[0] == "ws" && segments[1] == "accounts":
            pathAccount = String(segments[2])
        default:
            return nil
        }
        let items = components.queryItems ?? []
        token = items.first { $0.name == "token" }?.value
        since = items.first { $0.name == "since" }?.value
        channels = items.first { $0.name == "channels" }?.value.map { list in
            list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
    }
}
