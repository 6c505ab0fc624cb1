import Foundation

/// The targeting fields and history offset of a published event, read once per event per node.
///
/// An event with `user` goes only to that user's connections; with `channel`, only to
/// connections subscribed to that sub-channel; with both, to that user's subscribed
/// connections; with neither, to every connection of the account.
public struct EventRouting: Decodable, Sendable, Equatable {
    public var user: String?
    public var channel: String?
    /// Every connection of the account except this user's (typing events skip their sender).
    public var excludeUser: String?
    /// The history offset the publish function stamped on the event; nil for live-only publishes.
    public var offset: String?
    /// The event's `type`, for the few types the node itself reacts to (`typing.start`).
    public var type: String?

    public init(user: String? = nil, channel: String? = nil, excludeUser: String? = nil, offset: String? = nil, type: String? = nil) {
        self.user = user
        self.channel = channel
        self.excludeUser = excludeUser
        self.offset = offset
        self.type = type
    }

    enum CodingKeys: String, CodingKey {
        case user, channel, offset, type
        case excludeUser = "exclude_user"
    }

    /// Whether a connection of `user`, subscribed as `isSubscribed` says, receives the event.
    public func selects(user connectionUser: String, isSubscribed: (String) -> Bool) -> Bool {
        (user == nil || user == connectionUser) && excludeUser != connectionUser && (channel.map(isSubscribed) ?? true)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        user = try container.decodeIfPresent(JSONValue.self, forKey: .user)?.identifierString
        channel = try container.decodeIfPresent(JSONValue.self, forKey: .channel)?.identifierString
        excludeUser = try container.decodeIfPresent(JSONValue.self, forKey: .excludeUser)?.identifierString
        if case .string(let offset)? = try container.decodeIfPresent(JSONValue.self, forKey: .offset) { self.offset = offset }
        if case .string(let type)? = try container.decodeIfPresent(JSONValue.self, forKey: .type) { self.type = type }
    }

    /// Reads the routing of a published payload; nil when the payload is not a JSON object.
    public static func decode(_ payload: some Collection<UInt8>) -> EventRouting? {
        try? JSONDecoder().decode(EventRouting.self, from: Data(payload))
    }
}
