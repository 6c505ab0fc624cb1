import Foundation

/// A client-to-server message: `{"type": "...", "id"?: ..., ...}`.
///
/// Only the fields Herald acts on are decoded; unknown fields are ignored so clients can add
/// their own metadata.
public struct ClientMessage: Decodable, Sendable, Equatable {
    /// The message type, e.g. `ping`, `subscribe`.
    public var type: String
    /// The client's correlation id, answered as `ref`.
    public var id: MessageReference?
    /// Sub-channel for `subscribe` / `unsubscribe`.
    public var channel: String?
    /// Conversation for `typing.start` / `typing.stop`.
    public var conversationID: String?
    /// Offset for `resume`.
    public var since: String?
    /// The new JWT of a `refresh`.
    public var token: String?

    enum CodingKeys: String, CodingKey {
        case type, id, channel, since, token
        case conversationID = "conversation_id"
    }

    /// Name-like fields of the wrong JSON type decode as "" so the message is refused with the
    /// error of that field (`invalid_channel`, …) rather than as a whole.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        id = try container.decodeIfPresent(MessageReference.self, forKey: .id)
        func text(_ key: CodingKeys) throws -> String? {
            guard let value = try container.decodeIfPresent(JSONValue.self, forKey: key) else { return nil }
            if case .string(let string) = value { return string }
            return ""
        }
        channel = try text(.channel)
        conversationID = try text(.conversationID)
        since = try text(.since)
        token = try text(.token)
    }

    public init(
        type: String, id: MessageReference? = nil, channel: String? = nil, conversationID: String? = nil, since: String? = nil,
        token: String? = nil
    ) {
        self.type = type
        self.id = id
        self.channel = channel
        self.conversationID = conversationID
        self.since = since
        self.token = token
    }

    /// The longest `type` accepted.
    public static let maximumTypeLength = 64

    /// Decodes a text frame. Returns nil for anything that is not a JSON object with a string `type`.
    public static func decode(_ bytes: some Collection<UInt8>) -> ClientMessage? {
        guard let message = try? JSONDecoder().decode(ClientMessage.self, from: Data(bytes)),
            !message.type.isEmpty, message.type.utf8.count <= maximumTypeLength
        else { return nil }
        return message
    }

    /// The `id` of a message that failed to decode as a whole, so even a refusal can carry `ref`.
    public static func reference(in bytes: some Collection<UInt8>) -> MessageReference? {
        (try? JSONDecoder().decode(IdentifiedMessage.self, from: Data(bytes)))?.id
    }
}

/// Just the `id` of a client message.
private struct IdentifiedMessage: Decodable {
    var id: MessageReference?
}
