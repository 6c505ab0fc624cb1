import HeraldProtocol

/// A Socket.IO v5 packet a client sent (the data of an Engine.IO message): `<type>[<namespace>,][<ack id>][<JSON>]`.
struct SocketIOPacket: Equatable, Sendable {
    enum Kind: UInt8, Sendable {
        case connect = 0, disconnect, event, ack, connectError, binaryEvent, binaryAck
    }

    var kind: Kind
    /// `/` unless the packet names another namespace.
    var namespace: String
    /// The ack id the client asks the answer for (events), or answers (acks).
    var ackID: Int64?
    /// The JSON text after the header (empty when there is none).
    var data: ArraySlice<UInt8>

    /// Ack ids longer than this are refused (they must fit an `Int64`).
    static let maxAckIDDigits = 15

    /// Parses `text`; nil when it is not a Socket.IO packet.
    init?(_ text: [UInt8]) {
        guard let first = text.first, first >= UInt8(ascii: "0"), let kind = Kind(rawValue: first - UInt8(ascii: "0")) else { return nil }
        self.kind = kind
        var index = 1
        if kind == .binaryEvent || kind == .binaryAck {
            // `<attachments>-`: read past it; the packet is refused by its kind anyway.
            while index < text.count, text[index] != UInt8(ascii: "-") { index += 1 }
            index += 1
        }
        namespace = "/"
        if index < text.count, text[index] == UInt8(ascii: "/") {
            guard let comma = text[index...].firstIndex(of: UInt8(ascii: ",")) else { return nil }
            namespace = String(decoding: text[index..<comma], as: UTF8.self)
            index = comma + 1
        }
        var digits = 0
        var id: Int64 = 0
        while index < text.count, let digit = Self.digit(text[index]) {
            digits += 1
            guard digits <= Self.maxAckIDDigits else { return nil }
            id = id * 10 + Int64(digit)
            index += 1
        }
        ackID = digits > 0 ? id : nil
        data = text[min(index, text.count)...]
    }

    private static func digit(_ byte: UInt8) -> UInt8? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? byte - UInt8(ascii: "0") : nil
    }

    /// A `CONNECT`'s `auth` object: the token, where to recover from, sub-channels to join.
    struct Authentication: Equatable, Sendable {
        var token: String?
        /// `offset` (what Socket.IO's connection-state recovery sends back: the last argument of
        /// the last event received) or else `since`.
        var since: String?
        var channels: [String]?
        /// The client's private session id from a previous `CONNECT` answer (recovery).
        var pid: String?
    }

    /// Reads a `CONNECT`'s `auth` (an object, or nothing); nil when the data is not an object.
    func authentication() -> Authentication? {
        guard !data.isEmpty else { return Authentication() }
        return data.withContiguousStorageIfAvailable { bytes -> Authentication? in
            let raw = UnsafeRawBufferPointer(bytes)
            guard let outline = try? JSONScanner().scan(raw), outline.root.kind == .object else { return nil }
            var auth = Authentication()
            var offset: String?
            for member in outline.members {
                let key = member.key.string(in: raw)
                switch key {
                case "token": auth.token = member.value.string(in: raw)
                case "offset": offset = member.value.string(in: raw)
                case "since": auth.since = member.value.string(in: raw)
                case "pid": auth.pid = member.value.string(in: raw)
                case "channels":
                    if let list = member.value.string(in: raw) {
                        auth.channels = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    } else if member.value.kind == .array, let inner = try? JSONScanner().scan(UnsafeRawBufferPointer(rebasing: raw[member.value.range])) {
                        let innerRaw = UnsafeRawBufferPointer(rebasing: raw[member.value.range])
                        auth.channels = inner.elements.map { $0.string(in: innerRaw) ?? "" }
                    }
                default: break
                }
            }
            if let offset { auth.since = offset }
            return auth
        } ?? nil
    }

    /// An `EVENT`'s text as the Herald client message the session reads: `{"type":<name>,
    /// "id":<ack id>,"data":<first argument>}`. `subscribe`/`unsubscribe` take the channel as
    /// their argument (a string, or an object with `channel` and `since`); an object argument's
    /// `channel`, `conversation_id` and `since` are also lifted to the top level, where Herald's
    /// own types read them. Nil when the data is not an array starting with a string name.
    func clientMessage() -> [UInt8]? {
        data.withContiguousStorageIfAvailable { bytes -> [UInt8]? in
            let raw = UnsafeRawBufferPointer(bytes)
            guard let outline = try? JSONScanner().scan(raw), outline.root.kind == .array,
                let name = outline.elements.first, name.kind == .string
            else { return nil }
            let argument = outline.elements.dropFirst().first
            var message = Array(#"{"type":"#.utf8) + raw[name.range]
            if let ackID { message += Array(#","id":\#(ackID)"#.utf8) }
            let isSubscription = name.isString("subscribe", in: raw) || name.isString("unsubscribe", in: raw)
            if let argument {
                if isSubscription, argument.kind == .string {
                    message += Array(#","channel":"#.utf8) + raw[argument.range]
                } else {
                    message += Array(#","data":"#.utf8) + raw[argument.range]
                }
                if argument.kind == .object, let inner = try? JSONScanner().scan(UnsafeRawBufferPointer(rebasing: raw[argument.range])) {
                    let innerRaw = UnsafeRawBufferPointer(rebasing: raw[argument.range])
                    for member in inner.members {
                        guard let key = member.key.string(in: innerRaw), ["channel", "conversation_id", "since"].contains(key) else { continue }
                        message += Array(",".utf8) + innerRaw[member.key.range] + Array(":".utf8) + innerRaw[member.value.range]
                    }
                }
            }
            message += Array("}".utf8)
            return message
        } ?? nil
    }
}
