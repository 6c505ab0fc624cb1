import Foundation
import NIOHTTP1

/// What Herald reads from an SSE request: `GET /sse?token=&since=&channels=` (the token may be
/// in `Authorization: Bearer` instead, `Last-Event-ID` resumes) and
/// `POST /sse/messages?connection_id=&token=`.
struct ServerSentEventsRequest: Sendable, Equatable {
    var token: String?
    var since: String?
    var channels: [String]?
    var connectionID: String?
    var origin: String?

    init(_ head: HTTPRequestHead) {
        let items = URLComponents(string: head.uri)?.queryItems ?? []
        func query(_ name: String) -> String? { items.first { $0.name == name }?.value }
        token = query("token") ?? HandshakeAuthenticator.bearerToken(in: head.headers)
        // The browser resends the URL it was opened with (its `?since=` included) on every
        // reconnect, with the newest id it saw as `Last-Event-ID`: that one is the newer place.
        since = head.headers.first(name: "last-event-id").flatMap { $0.isEmpty ? nil : $0 } ?? query("since")
        channels = query("channels").map { list in list.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        connectionID = query("connection_id")
        origin = head.headers.first(name: "origin")
    }

    var credentials: HandshakeAuthenticator.Credentials {
        HandshakeAuthenticator.Credentials(token: token, origin: origin, since: since, channels: channels)
    }
}
