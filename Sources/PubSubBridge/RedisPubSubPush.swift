import NIOCore

/// A reply Redis pushes on a connection in subscription mode (RESP2 array form). Sharded pushes
/// (`smessage`, `ssubscribe`, `sunsubscribe`) read as their classic counterparts.
enum RedisPubSubPush: Equatable {
    /// `["message", channel, payload]`: a PUBLISH to a channel we are subscribed to.
    case message(channel: String, payload: ByteBuffer)
    /// `["subscribe", channel, count]`: Redis now has this subscription.
    case subscribed(channel: String, count: Int64)
    /// `["unsubscribe", channel, count]`: Redis dropped this subscription (`channel` is nil when it had none).
    case unsubscribed(channel: String?, count: Int64)
    /// `["pong", payload]`: the answer to PING in subscription mode.
    case pong

    /// Parses a push; `nil` for shapes this client never asks for (patterns, errors).
    init?(_ value: RESPValue) {
        guard case .array(let elements) = value, let kind = elements.first?.string?.lowercased() else { return nil }
        switch (kind, elements.count) {
        case ("message", 3), ("smessage", 3):
            guard let channel = elements[1].string, case .bulkString(let payload) = elements[2] else { return nil }
            self = .message(channel: channel, payload: payload)
        case ("subscribe", 3), ("ssubscribe", 3):
            guard let channel = elements[1].string, let count = elements[2].int else { return nil }
            self = .subscribed(channel: channel, count: count)
        case ("unsubscribe", 3), ("sunsubscribe", 3):
            guard let count = elements[2].int else { return nil }
            self = .unsubscribed(channel: elements[1].string, count: count)
        case ("pong", _):
            self = .pong
        default:
            return nil
        }
    }
}
