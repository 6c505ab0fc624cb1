import Foundation
import HeraldProtocol
import NIOHTTP1

/// Decides whether a session may open and as whom, from what the client presents with its
/// transport (an upgrade request, an SSE request, a Socket.IO `CONNECT`): the origin allow-list,
/// the token, then the path's account against the token's, and the channels asked for.
public struct HandshakeAuthenticator: Sendable {
    /// An accepted session.
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

    /// What a client presents to open a session, whatever its transport carried it in: an upgrade
    /// request's URL and headers, an SSE request, or a Socket.IO `CONNECT` packet's `auth`.
    public struct Credentials: Sendable, Equatable {
        /// The JWT.
        public var token: String?
        /// `access_token` or `bearer` when the token came in `Sec-WebSocket-Protocol`; the server must select it.
        public var subprotocol: String?
        /// The request's `Origin` header, checked against the allow-list.
        public var origin: String?
        /// An account named by the path, which must equal the token's.
        public var pathAccount: String?
        /// Where the client asks to recover from.
        public var since: String?
        /// Sub-channels to join before the first frame.
        public var channels: [String]?

        public init(
            token: String?, subprotocol: String? = nil, origin: String? = nil, pathAccount: String? = nil, since: String? = nil,
            channels: [String]? = nil
        ) {
            self.token = token
            self.subprotocol = subprotocol
            self.origin = origin
            self.pathAccount = pathAccount
            self.since = since
            self.channels = channels
        }
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
    public static func isWebSocketPath(_ uri: String) -> Bool { WebSocketRoute.isEndpoint(uri) }

    /// Checks the WebSocket upgrade request and returns the identity, or throws `AuthenticationError`.
    public func authenticate(_ head: HTTPRequestHead, now: Date = Date()) async throws -> Acceptance {
        guard let route = WebSocketRoute(uri: head.uri) else { throw AuthenticationError.missingToken }
        let (token, subprotocol) = Self.token(in: head, route: route)
        return try await authenticate(
            Credentials(
                token: token, subprotocol: subprotocol, origin: head.headers.first(name: "origin"), pathAccount: route.pathAccount,
                since: route.since, channels: route.channels),
            now: now)
    }

    /// Checks credentials in this order — origin, token, path account, channels — and returns
    /// the identity, or throws `AuthenticationError`.
    public func authenticate(_ credentials: Credentials, now: Date = Date()) async throws -> Acceptance {
        if let allowedOrigins, let origin = credentials.origin, !allowedOrigins.contains(origin) {
            throw AuthenticationError.originForbidden
        }
        guard let token = credentials.token, !token.isEmpty else { throw AuthenticationError.missingToken }
        let verified = try await verifier.verify(token, now: now)
        let identity = verified.identity
        if let pathAccount = credentials.pathAccount, pathAccount != identity.account {
            throw AuthenticationError.accountMismatch
        }
        let channels = try Self.channels(credentials.channels ?? [], for: identity, maximum: maxChannels)
        return Acceptance(
            identity: identity, expiresAt: verified.expiresAt, subprotocol: credentials.subprotocol, since: credentials.since, channels: channels)
    }

    /// The token of `Authorization: Bearer <jwt>`, if the request has one.
    public static func bearerToken(in headers: HTTPHeaders) -> String? {
        guard let authorization = headers.first(name: "authorization") else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
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
        if let token = bearerToken(in: head.headers) { return (token, nil) }
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
