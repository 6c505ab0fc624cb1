import Foundation
import HeraldProtocol
import NIOHTTP1

/// Decides, from the upgrade request alone, whether a WebSocket may open and as whom.
///
/// Runs before any WebSocket frame: the origin allow-list, the token (`Sec-WebSocket-Protocol`
/// after `access_token` or `bearer`, `Authorization: Bearer`, or `?token=`), then the path's
/// account against the token's.
public struct HandshakeAuthenticator: Sendable {
    /// An accepted upgrade.
    public struct Acceptance: Sendable, Equatable {
        public var identity: ClientIdentity
        /// The token's `exp`: the session is closed with 4003 once it passed (plus the leeway).
        public var expiresAt: Date?
        /// `access_token` or `bearer` when the token came in `Sec-WebSocket-Protocol`; the server must select it.
        public var subprotocol: String?
        /// `?since=` from the request, for recovery.
        public var since: String?
        /// The account's history position when the client connected.
        public var offset: String?
        /// Sub-channels from `?channels=`, checked against the token.
        public var channels: Set<String> = []
    }

    public let verifier: TokenVerifier
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
        let verified = try await verifier.verify(token, now: now)
        let identity = verified.identity
        if let pathAccount = route.pathAccount, pathAccount != identity.account {
            throw AuthenticationError.accountMismatch
        }
        let channels = try Self.channels(route.channels ?? [], for: identity, maximum: maxChannels)
        return Acceptance(identity: identity, expiresAt: verified.expiresAt, subprotocol: subprotocol, since: route.since, channels: channels)
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

    /// Subprotocol names after which a client puts its token (`Sec-WebSocket-Protocol:
    /// access_token, <jwt>`); the server selects the name, as browsers require.
    static let tokenSubprotocols = ["access_token", "bearer"]

    /// The token and the subprotocol to select. `?token=` wins (it is what older clients send),
    /// then `Authorization: Bearer`, then the subprotocol.
    private static func token(in head: HTTPRequestHead, route: WebSocketRoute) -> (String?, String?) {
        if let token = route.token { return (token, nil) }
        if let authorization = head.headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return (String(parts[1]).trimmingCharacters(in: .whitespaces), nil)
            }
        }
        let protocols = head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init)
        if let marker = offeredTokenSubprotocol(head), let index = protocols.firstIndex(where: { $0.lowercased() == marker }),
            index + 1 < protocols.count
        {
            return (protocols[index + 1], marker)
        }
        return (nil, nil)
    }

    /// The token subprotocol name the client offered, if any: a refusal by close frame must
    /// select it too, or the browser fails the handshake before it sees the close code.
    static func offeredTokenSubprotocol(_ head: HTTPRequestHead) -> String? {
        let protocols = head.headers[canonicalForm: "sec-websocket-protocol"].map { $0.lowercased() }
        return protocols.first { tokenSubprotocols.contains($0) }
    }
}
