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

    /// Parses `uri`; nil when it is not a WebSocket endpoint. Parsed by hand rather than with
    /// `URLComponents`, which refuses characters browsers send unencoded in a path (`|` in
    /// `/ws/accounts/auth0|abc/`).
    init?(uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        // Split before decoding, so an account id holding an encoded '/' (%2F) stays one segment.
        let segments = parts[0].split(separator: "/", omittingEmptySubsequences: true)
        switch segments.count {
        case 1 where segments[0] == "ws":
            pathAccount = nil
        case 3 where segments[0] == "ws" && segments[1] == "accounts":
            guard let account = segments[2].removingPercentEncoding else { return nil }
            pathAccount = account
        default:
            return nil
        }
        var items: [(name: String, value: String)] = []
        if parts.count == 2 {
            for item in parts[1].split(separator: "&") {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = pair[0].removingPercentEncoding else { continue }
                items.append((name, pair.count == 2 ? (pair[1].removingPercentEncoding ?? "") : ""))
            }
        }
        token = items.first { $0.name == "token" && !$0.value.isEmpty }?.value
        since = items.first { $0.name == "since" }?.value
        channels = items.first { $0.name == "channels" }?.value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }
}
