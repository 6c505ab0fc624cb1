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
        guard let account = Self.account(path: parts[0]) else { return nil }
        pathAccount = account
        var items: [(name: String, value: String)] = []
        if parts.count == 2 {
            for item in parts[1].split(separator: "&") {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.decoded(pair[0]) else { continue }
                items.append((name, pair.count == 2 ? (Self.decoded(pair[1]) ?? "") : ""))
            }
        }
        token = items.first { $0.name == "token" && !$0.value.isEmpty }?.value
        since = items.first { $0.name == "since" }?.value
        channels = items.first { $0.name == "channels" }?.value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// Whether `uri`'s path is a WebSocket endpoint, without reading its query (the router and
    /// the upgrader ask this of every request).
    static func isEndpoint(_ uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return account(path: path) != nil
    }

    /// The path's account: `.some(nil)` for `/ws`, `.some(id)` for `/ws/accounts/{id}/`, nil for
    /// any other path. Split before decoding, so an id holding an encoded '/' (%2F) stays one segment.
    private static func account(path: Substring) -> String?? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        switch segments.count {
        case 1 where segments[0] == "ws":
            return .some(nil)
        case 3 where segments[0] == "ws" && segments[1] == "accounts":
            guard let account = decoded(segments[2]) else { return nil }
            return .some(account)
        default:
            return nil
        }
    }

    /// Percent-decoded text; Foundation's decoder only when there is something to decode (it
    /// was a tenth of a node's CPU in a connect storm, run on every token).
    private static func decoded(_ text: Substring) -> String? {
        text.utf8.contains(UInt8(ascii: "%")) ? text.removingPercentEncoding : String(text)
    }
}
