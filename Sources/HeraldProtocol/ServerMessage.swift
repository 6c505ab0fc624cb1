import Foundation

/// Server-to-client control messages (events themselves are forwarded as published).
public enum ServerMessage: Sendable, Equatable {
    /// The first frame of every connection.
    /// `offset` is the account's current history position: where this client starts.
    case connected(connectionID: String, node: String, account: String, user: String, heartbeat: Int, offset: String?)
    /// The answer to a JSON `ping`.
    case pong(ref: MessageReference?)
    /// A positive answer to a message that carried an `id`.
    case ack(ref: MessageReference)
    /// A refusal of a client message.
    case error(code: ErrorCode, message: String, ref: MessageReference?)
    /// The end of a history replay: whether every missed event was delivered, and how many were.
    /// `reason` says why not, when not; `channel` names the sub-channel a channel recovery was for.
    case recovery(recovered: Bool, count: Int, reason: String?, channel: String? = nil)
    /// The answer to `presence.get`: who is online in the account.
    case presenceState(users: [PresenceEntry], ref: MessageReference?)
    /// The answer to an accepted `refresh`: the connection now expires at `exp` (Unix seconds,
    /// the new token's `exp`; the node closes with 4003 once it passes, plus the leeway).
    case refreshed(exp: Int64, ref: MessageReference?)
    /// A backend's answer to one client message, carried back by the node itself (HTTP upstream):
    /// `data` is a JSON text, written into the frame byte for byte.
    case reply(ref: MessageReference?, data: [UInt8])

    /// One user in `presence.state`.
    public struct PresenceEntry: Encodable, Sendable, Equatable {
        public var user: String
        public var connections: Int
        public var info: JSONValue?

        public init(user: String, connections: Int, info: JSONValue?) {
            self.user = user
            self.connections = connections
            self.info = info
        }
    }

    /// The client's `id` this message answers, if it answers one.
    public var ref: MessageReference? {
        switch self {
        case .pong(let ref), .error(_, _, let ref), .presenceState(_, let ref), .refreshed(_, let ref), .reply(let ref, _): return ref
        case .ack(let ref): return ref
        case .connected, .recovery: return nil
        }
    }

    private struct Body: Encodable {
        var type: String
        var connection_id: String?
        var node: String?
        var account: String?
        var user: String?
        var heartbeat: Int?
        var offset: String?
        var recovered: Bool?
        var count: Int?
        var reason: String?
        var channel: String?
        var users: [PresenceEntry]?
        var exp: Int64?
        var code: String?
        var message: String?
        var ref: MessageReference?
    }

    /// The JSON text of this message.
    public func encoded() -> [UInt8] {
        let body: Body
        switch self {
        case let .connected(connectionID, node, account, user, heartbeat, offset):
            body = Body(type: ReservedEventType.connected, connection_id: connectionID, node: node, account: account, user: user, heartbeat: heartbeat, offset: offset)
        case let .pong(ref):
            body = Body(type: ReservedEventType.pong, ref: ref)
        case let .ack(ref):
            body = Body(type: ReservedEventType.ack, ref: ref)
        case let .error(code, message, ref):
            body = Body(type: ReservedEventType.error, code: code.rawValue, message: message, ref: ref)
        case let .recovery(recovered, count, reason, channel):
            body = Body(type: ReservedEventType.recovery, recovered: recovered, count: count, reason: reason, channel: channel)
        case let .presenceState(users, ref):
            body = Body(type: ReservedEventType.presenceState, users: users, ref: ref)
        case let .refreshed(exp, ref):
            body = Body(type: ReservedEventType.refreshed, exp: exp, ref: ref)
        case let .reply(ref, data):
            // `data` is already JSON: spliced in as the last member rather than re-encoded.
            var text = Self.encode(Body(type: Self.replyType, ref: ref))
            text.removeLast()
            text.append(contentsOf: #","data":"#.utf8)
            text.append(contentsOf: data)
            text.append(UInt8(ascii: "}"))
            return text
        }
        return Self.encode(body)
    }

    /// The `type` of a reply to one client message, whether a backend published it (targeted at
    /// the connection) or the node relays it (HTTP upstream).
    public static let replyType = "reply"

    private static func encode(_ body: Body) -> [UInt8] {
        // Encoding a struct of strings and integers cannot fail.
        return Array((try? Self.encoder.encode(body)) ?? Data(#"{"type":"error"}"#.utf8))
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}
