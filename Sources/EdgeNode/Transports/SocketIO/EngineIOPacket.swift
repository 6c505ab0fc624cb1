/// One Engine.IO v4 packet in its text form: a type digit, then data. Over WebSocket each frame
/// is one packet; over polling a body holds packets separated by the record separator (0x1E).
/// Binary packets (`b…` base64 in polling, binary frames) are not supported.
enum EngineIOPacket: Equatable, Sendable {
    case open([UInt8])
    case close
    case ping([UInt8])
    case pong([UInt8])
    case message([UInt8])
    case upgrade
    case noop

    /// The separator between packets of a polling body.
    static let recordSeparator = UInt8(0x1E)

    /// Parses one packet; nil for an empty, binary or unknown one.
    init?(_ text: some Collection<UInt8>) {
        guard let first = text.first else { return nil }
        let data = Array(text.dropFirst())
        switch first {
        case UInt8(ascii: "0"): self = .open(data)
        case UInt8(ascii: "1"): self = .close
        case UInt8(ascii: "2"): self = .ping(data)
        case UInt8(ascii: "3"): self = .pong(data)
        case UInt8(ascii: "4"): self = .message(data)
        case UInt8(ascii: "5"): self = .upgrade
        case UInt8(ascii: "6"): self = .noop
        default: return nil
        }
    }

    /// The packets of a polling body; nil when one is not a packet Herald reads.
    static func split(_ body: [UInt8], maxPackets: Int) -> [EngineIOPacket]? {
        let parts = body.split(separator: recordSeparator, omittingEmptySubsequences: false)
        guard parts.count <= maxPackets else { return nil }
        var packets: [EngineIOPacket] = []
        for part in parts {
            guard let packet = EngineIOPacket(part) else { return nil }
            packets.append(packet)
        }
        return packets
    }

    /// The packet's text.
    var encoded: [UInt8] {
        switch self {
        case .open(let data): return Array("0".utf8) + data
        case .close: return Array("1".utf8)
        case .ping(let data): return Array("2".utf8) + data
        case .pong(let data): return Array("3".utf8) + data
        case .message(let data): return Array("4".utf8) + data
        case .upgrade: return Array("5".utf8)
        case .noop: return Array("6".utf8)
        }
    }
}
