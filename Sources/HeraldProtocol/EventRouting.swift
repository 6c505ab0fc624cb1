/// The targeting fields and history offset of a published event, read once per event per node.
///
/// An event with `user` goes only to that user's connections; with `channel`, only to
/// connections subscribed to that sub-channel; with both, to that user's subscribed
/// connections; with `connection`, only to that one connection (a reply), on whichever node holds
/// it; with none, to every connection of the account. Targets combine: each one narrows.
///
/// Reading fails closed: an event whose targeting cannot be matched exactly is refused with a
/// ``Rejection`` and must be dropped, never delivered to the whole account.
public struct EventRouting: Sendable, Equatable {
    /// Why an event is dropped instead of delivered; a small fixed set (a metric label).
    public enum DropReason: String, Sendable, CaseIterable {
        /// Not one well-formed JSON text (or nested too deep).
        case invalidJSON = "invalid_json"
        /// Bytes that are not UTF-8, or a `\u` escape of an unpaired surrogate: a browser fails the socket.
        case invalidUTF8 = "invalid_utf8"
        /// Valid JSON, but not an object.
        case notObject = "not_object"
        /// `type`, `user`, `channel`, `exclude_user`, `connection` or `offset` appears twice: clients and Herald could disagree.
        case duplicateKey = "duplicate_key"
        /// `user`, `channel` or `exclude_user` is neither a string nor an integer (or the channel is not a channel
        /// name), or `connection` is not a string.
        case invalidTarget = "invalid_target"
        /// A `type` only the server may send (``ReservedEventType/serverOnly``).
        case reservedType = "reserved_type"
    }

    /// An event the node must drop: the reason (for the metric) and what exactly was wrong (for the log).
    public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: DropReason
        public var detail: String

        public init(_ reason: DropReason, _ detail: String) {
            self.reason = reason
            self.detail = detail
        }

        public var description: String { "\(reason.rawValue): \(detail)" }
    }

    /// The only user whose connections receive the event.
    public var user: RoutingKey?
    /// The only sub-channel whose subscribers receive the event (always a valid ``ChannelName``).
    public var channel: RoutingKey?
    /// Every connection of the account except this user's (typing events skip their sender).
    public var excludeUser: RoutingKey?
    /// The only connection that receives the event (its `connection_id`): a reply to one request.
    public var connection: RoutingKey?
    /// The history offset the publish function stamped on the event; nil for live-only publishes.
    public var offset: String?
    /// The event's `type` when it is a string, for the few types the node itself reacts to (`typing.start`).
    public var type: String?

    public init(
        user: RoutingKey? = nil, channel: RoutingKey? = nil, excludeUser: RoutingKey? = nil, connection: RoutingKey? = nil,
        offset: String? = nil, type: String? = nil
    ) {
        self.user = user
        self.channel = channel
        self.excludeUser = excludeUser
        self.connection = connection
        self.offset = offset
        self.type = type
    }

    /// Whether the connection `connectionID` of `user`, subscribed as `isSubscribed` says, receives
    /// the event. Ids compare by their exact UTF-8 bytes; a channel is ASCII, so `isSubscribed`
    /// compares exactly too. Without a `connectionID`, a connection-targeted event selects nobody.
    public func selects(user connectionUser: String, connection connectionID: String? = nil, isSubscribed: (String) -> Bool) -> Bool {
        (user?.matches(connectionUser) ?? true) && !(excludeUser?.matches(connectionUser) ?? false)
            && (connection.map { target in connectionID.map(target.matches) ?? false } ?? true)
            && (channel.map { isSubscribed($0.text) } ?? true)
    }

    /// Reads the routing of a published payload; nil when it must be dropped (see ``parse(_:)``).
    public static func decode(_ payload: some Collection<UInt8>) -> EventRouting? {
        try? parse(payload)
    }

    /// Reads the routing of a published payload, refusing what must not be delivered: anything
    /// but a valid JSON object of valid UTF-8; a target that is not a string or an integer
    /// (an integer matches by its exact decimal text), or a `connection` that is not a string; a
    /// repeated routing key; a server-only `type`.
    public static func parse(_ payload: some Collection<UInt8>) throws(Rejection) -> EventRouting {
        try payload.withContiguousBytes { (bytes) throws(Rejection) in try parse(bytes: bytes) }
    }

    private static func parse(bytes: UnsafeRawBufferPointer) throws(Rejection) -> EventRouting {
        let outline: JSONOutline
        do {
            outline = try JSONScanner().scan(bytes)
        } catch {
            throw Rejection(error.isInvalidUnicode ? .invalidUTF8 : .invalidJSON, error.description)
        }
        guard outline.root.kind == .object else { throw Rejection(.notObject, "the event is not a JSON object") }
        var routing = EventRouting()
        var seen: UInt8 = 0
        for member in outline.members {
            guard let field = Field.all.first(where: { member.key.isString($0.name, in: bytes) }) else { continue }
            guard seen & field.bit == 0 else { throw Rejection(.duplicateKey, "'\(field.name)' appears more than once") }
            seen |= field.bit
            let value = member.value
            switch field {
            case .type: routing.type = value.string(in: bytes)
            case .offset: routing.offset = value.string(in: bytes)
            case .user: routing.user = try target(value, field, in: bytes)
            case .excludeUser: routing.excludeUser = try target(value, field, in: bytes)
            case .connection:
                // Connection ids are strings (`<node>-<n>`): an integer could only match by accident.
                guard let id = value.string(in: bytes) else { throw Rejection(.invalidTarget, "'connection' is not a string") }
                routing.connection = RoutingKey(id)
            case .channel:
                let channel = try target(value, field, in: bytes)
                guard ChannelName.isValid(channel.text) else { throw Rejection(.invalidTarget, "'channel' is not a sub-channel name") }
                routing.channel = channel
            }
        }
        if let type = routing.type, ReservedEventType.isServerOnly(type) {
            throw Rejection(.reservedType, "'type' \(type) is reserved to the server")
        }
        return routing
    }

    /// A target's key: a string's exact value, an integer's exact decimal text; any other kind refuses the event.
    private static func target(_ value: JSONOutline.Value, _ field: Field, in bytes: UnsafeRawBufferPointer) throws(Rejection) -> RoutingKey {
        switch value.kind {
        case .string: return RoutingKey(value.string(in: bytes)!)
        case .integer: return RoutingKey(value.text(in: bytes))
        case .number: throw Rejection(.invalidTarget, "'\(field.name)' is a number with a fraction or exponent")
        case .boolean, .null, .object, .array: throw Rejection(.invalidTarget, "'\(field.name)' is not a string or an integer")
        }
    }

    /// The top-level keys the node reads.
    private enum Field: UInt8, CaseIterable {
        case type, user, channel, excludeUser, connection, offset

        /// Every field, built once (a synthesized `allCases` may allocate on each call).
        static let all = allCases

        var bit: UInt8 { 1 << rawValue }

        var name: StaticString {
            switch self {
            case .type: return "type"
            case .user: return "user"
            case .channel: return "channel"
            case .excludeUser: return "exclude_user"
            case .connection: return "connection"
            case .offset: return "offset"
            }
        }
    }
}
