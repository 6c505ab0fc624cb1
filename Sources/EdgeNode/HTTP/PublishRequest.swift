import HeraldProtocol

/// A validated `POST /api/v1/publish` body, and the event it becomes.
///
/// The body is validated once with ``JSONScanner`` (strict JSON, valid UTF-8), then the event is
/// spliced from the publisher's own bytes: `data` goes out exactly as sent, keys in their order,
/// numbers as written.
struct PublishRequest: Sendable {
    var account: String
    /// Whether the event goes into the account's history (recoverable); `"history": false` publishes live only.
    var history: Bool
    /// The event exactly as clients will receive it: `{"type", "data", "user"?, "channel"?, "connection"?, "ref"?}`.
    var event: [UInt8]

    /// The longest `type` accepted.
    static let maximumTypeLength = 64
    /// The longest `user` accepted, in bytes (a string's value, or an integer's digits).
    static let maximumUserLength = 256
    /// The longest `connection` accepted, in bytes (connection ids are `<node id>-<n>`).
    static let maximumConnectionLength = 256

    /// The fields of a publish object; any other key is ignored.
    private enum Field: String, CaseIterable {
        case account, type, data, user, channel, connection, ref, history
    }

    /// Parses a whole request body holding one publish object.
    static func parse(body: [UInt8]) throws(HTTPRefusal) -> PublishRequest {
        try body.withContiguousBytes { (bytes) throws(HTTPRefusal) in
            try PublishRequest(object: try outline(bytes), in: bytes)
        }
    }

    /// Parses a whole request body `{"events": [<publish object>, …]}` of 1–`maximumCount` events;
    /// a bad event refuses the whole batch, naming its index.
    static func parseBatch(body: [UInt8], maximumCount: Int) throws(HTTPRefusal) -> [PublishRequest] {
        try body.withContiguousBytes { (bytes) throws(HTTPRefusal) in
            let root = try outline(bytes)
            let candidates = root.members.filter { $0.key.isString("events", in: bytes) }
            guard root.root.kind == .object, candidates.count == 1, let events = candidates.first?.value, events.kind == .array else {
                throw bad("the body must be {\"events\": [...]} with one 'events' key")
            }
            let elements = try outline(UnsafeRawBufferPointer(rebasing: bytes[events.range])).elements
            guard !elements.isEmpty, elements.count <= maximumCount else {
                throw bad("'events' must hold 1-\(maximumCount) events")
            }
            var requests: [PublishRequest] = []
            requests.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                let shifted = (element.range.lowerBound + events.range.lowerBound)..<(element.range.upperBound + events.range.lowerBound)
                let object = UnsafeRawBufferPointer(rebasing: bytes[shifted])
                do throws(HTTPRefusal) {
                    requests.append(try PublishRequest(object: try outline(object), in: object))
                } catch {
                    throw bad("events[\(index)]: \(error.message)")
                }
            }
            return requests
        }
    }

    /// Validates `bytes` as one JSON text, refusing malformed JSON and invalid UTF-8 with 400.
    private static func outline(_ bytes: UnsafeRawBufferPointer) throws(HTTPRefusal) -> JSONOutline {
        do {
            return try JSONScanner().scan(bytes)
        } catch {
            throw bad("the body is not valid JSON: \(error)")
        }
    }

    /// Reads one publish object whose text is `bytes`; throws an `HTTPRefusal` (400) naming the bad field.
    private init(object outline: JSONOutline, in bytes: UnsafeRawBufferPointer) throws(HTTPRefusal) {
        guard outline.root.kind == .object else { throw Self.bad("the body must be a JSON object") }
        var fields: [Field: JSONOutline.Value] = [:]
        for member in outline.members {
            guard let name = member.key.string(in: bytes), let field = Field(rawValue: name) else { continue }
            guard fields.updateValue(member.value, forKey: field) == nil else { throw Self.bad("'\(name)' appears more than once") }
        }
        guard let account = fields[.account]?.string(in: bytes), AccountName.isValid(account) else {
            throw Self.bad("'account' must be a string of \(AccountName.rule)")
        }
        guard let typeValue = fields[.type], let type = typeValue.string(in: bytes), !type.isEmpty, type.utf8.count <= Self.maximumTypeLength else {
            throw Self.bad("'type' must be a non-empty string of at most \(Self.maximumTypeLength) bytes")
        }
        guard !ReservedEventType.isReserved(type) else {
            throw Self.bad("'type' \"\(type)\" is reserved to Herald (reserved: \((ReservedEventType.serverOnly + ReservedEventType.heraldPublished).joined(separator: ", ")))")
        }
        var history = true
        if let value = fields[.history] {
            guard value.kind == .boolean else { throw Self.bad("'history' must be true or false") }
            history = bytes[value.range.lowerBound] == UInt8(ascii: "t")
        }
        var event: [UInt8] = []
        event.reserveCapacity(bytes.count + 32)
        event.append(contentsOf: #"{"type":"#.utf8)
        event.append(contentsOf: bytes[typeValue.range])
        event.append(contentsOf: #","data":"#.utf8)
        if let data = fields[.data] { event.append(contentsOf: bytes[data.range]) } else { event.append(contentsOf: "null".utf8) }
        if let user = fields[.user] {
            let id: String? = user.kind == .integer ? user.text(in: bytes) : user.string(in: bytes)
            guard let id, !id.isEmpty, id.utf8.count <= Self.maximumUserLength else {
                throw Self.bad("'user' must be a non-empty string of at most \(Self.maximumUserLength) bytes, or an integer")
            }
            event.append(contentsOf: #","user":"#.utf8)
            event.append(contentsOf: bytes[user.range])
        }
        if let channel = fields[.channel] {
            guard let name = channel.string(in: bytes), ChannelName.isValid(name) else {
                throw Self.bad("'channel' must be 1-\(ChannelName.maximumLength) printable characters")
            }
            event.append(contentsOf: #","channel":"#.utf8)
            event.append(contentsOf: bytes[channel.range])
        }
        if let connection = fields[.connection] {
            guard let id = connection.string(in: bytes), !id.isEmpty, id.utf8.count <= Self.maximumConnectionLength else {
                throw Self.bad("'connection' must be a connection_id: a non-empty string of at most \(Self.maximumConnectionLength) bytes")
            }
            event.append(contentsOf: #","connection":"#.utf8)
            event.append(contentsOf: bytes[connection.range])
        }
        if let ref = fields[.ref] {
            let valid = ref.kind == .integer || (ref.string(in: bytes).map { $0.utf8.count <= MessageReference.maximumLength } ?? false)
            guard valid else {
                throw Self.bad("'ref' must be the request's id: a string of at most \(MessageReference.maximumLength) bytes, or an integer")
            }
            event.append(contentsOf: #","ref":"#.utf8)
            event.append(contentsOf: bytes[ref.range])
        }
        event.append(UInt8(ascii: "}"))
        self.account = account
        self.history = history
        self.event = event
    }

    static func bad(_ message: String) -> HTTPRefusal {
        HTTPRefusal(status: .badRequest, code: .badRequest, message: message)
    }
}
