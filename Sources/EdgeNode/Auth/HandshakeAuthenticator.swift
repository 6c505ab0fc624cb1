import Foundation
import HeraldProtocol
import NIOHTTP1

/// Decides, from the upgrade request alone, whether a WebSocket may open and as whom.
///
/// Runs before any WebSocket frame: the origin allow-list, the token (query, `Authorization`,
/// or `Sec-WebSocket-Protocol` after `bearer`), then the path's account against the token's.
public struct HandshakeAuthenticator: Sendable {
    /// An accepted upgrade.
    public struct Acceptance: Sendable, Equatable {
        public var identity: ClientIdentity
        /// `bearer` when the token came in `Sec-WebSocket-Protocol`; the server must select it.
        public var subprotocol: String?
        /// `?since=` from the request, for recovery.
        public var since: String?
        /// The account's history position when the client connected.
        public var offset: String?
        /// Sub-channels from `?channels=`, checked against the token.
        public var channels: Set<String> = []
    }

    let verifier: TokenVerifier
    let allowedOrigins: Set<String>?
    let maxChannels: Int

    public init(verifier: TokenVerifier, allowedOrigins: Set<String>?, maxChannels: Int = 32) {
        self.verifier = verifier
        self.allowedOrigins = allowedOrigins
        self.maxChannels = maxChannels
    }

    /// True when `uri` names a WebSocket endpoint.
    public static func isWebSocketPath(_ uri: String) -> Bool { WebSocketRoute(uri: uri) != nil }

    /// Checks the request and returns the identity, or throws `AuthenticationError`.
    public func authenticate(_ head: HTTPRequestHead, now: Date = Date()) async throws -> Acceptance {
        guard let route = WebSocketRoute(uri: head.uri) else { throw AuthenticationError.missingToken }
        if let allowedOrigins, let origin = head.headers.first(name: "origin"), !allowedOrigins.contains(origin) {
            throw AuthenticationError.originForbidden
        }
        let (token, subprotocol) = Self.token(in: head, route: route)
        guard let token, !token.isEmpty else { throw AuthenticationError.missingToken }
        let identity = try await verifier.verify(token, now: now)
        if let pathAccount = route.pathAccount, pathAccount != identity.account {
            throw AuthenticationError.accountMismatch
        }
        let channels = try Self.channels(route.channels ?? [], for: identity, maximum: maxChannels)
        return Acceptance(identity: identity, subprotocol: subprotocol, since: route.since, channels: channels)
    }

    /// Checks `?channels=` against the channel rules and the token's `channels` claim.
    private static func channels(_ names: [String], for identity: ClientIdentity, maximum: Int) throws -> Set<String> {
        let channels = Set(names)
        guard channels.count <= maximum else { throw AuthenticationError.tooManyChannels(maximum) }
        for channel in names {
            guard ChannelName.isValid(channel) else { throw AuthenticationError.invalidChannel(channel) }
            guard identity.mayJoin(channel) else { throw AuthenticationError.channelForbidden(channel) }
        }
        return channels
    }

    private static func token(in head: HTTPRequestHead, route: WebSocketRoute) -> (String?, String?) {
        if let token = route.token { return (token, nil) }
        if let authorization = head.headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return (String(parts[1]).trimmingCharacters(in: .whitespaces), nil)
            }
        }
        let protocols = head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init)
        if let bearer = protocols.firstIndex(where: { $0.lowercased() == "bearer" }), bearer + 1 < protocols.count {
            return (protocols[bearer + 1], "bearer")
        }
        return (nil, nil)
    }
}
