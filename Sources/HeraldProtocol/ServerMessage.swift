import Foundation

/// Server-to-client control messages (events themselves are forwarded as published).
public enum ServerMessage: Sendable, Equatable {
    /// The first frame of every connection.
    case connected(connectionID: String, node: String, account: String, user: String, heartbeat: Int)
    /// The answer to a JSON `ping`.
    case pong(ref: MessageReference?)
    /// A positive answer to a message that carried an `id`.
    case ack(ref: MessageReference)
    /// A refusal of a client message.
    case error(code: ErrorCode, message: String, ref: MessageReference?)

    private struct Body: Encodable {
        var type: String
        var connection_id: String?
        var node: String?
        var account: String?
        var user: String?
        var heartbeat: Int?
        var code: String?
        var message: String?
        var ref: MessageReference?
    }

    /// The JSON text of this message.
    public func encoded() -> [UInt8] {
        let body: Body
        switch self {
        case let .connected(connectionID, node, account, user, heartbeat):
            body = Body(type: "connected", connection_id: connectionID, node: node, account: account, user: user, heartbeat: heartbeat)
        case let .pong(ref):
            body = Body(type: "pong", ref: ref)
        case let .ack(ref):
            body = Body(type: "ack", ref: ref)
        case let .error(code, message, ref):
            body = Body(type: "error", code: code.rawValue, message: message, ref: ref)
        }
        // Encoding a struct of strings and integers cannot fail.
        return Array((try? Self.encoder.encode(body)) ?? Data(#"{"type":"error"}"#.utf8))
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}
