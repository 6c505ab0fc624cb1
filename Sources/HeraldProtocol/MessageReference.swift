/// The `id` a client put on a message, echoed back as `ref` in the `ack` or `error` that answers it.
/// Clients use strings or integers; both round-trip unchanged.
public enum MessageReference: Codable, Hashable, Sendable {
    case string(String)
    case integer(Int64)

    /// The longest string id accepted; longer ids are refused as malformed.
    public static let maximumLength = 128

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else {
            let value = try container.decode(String.self)
            guard value.utf8.count <= Self.maximumLength else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "id longer than \(Self.maximumLength) bytes")
            }
            self = .string(value)
        }
    }

    /// The id as a JSON value's text (`"r1"`, `17`), so a backend can echo it back unchanged as `ref`.
    public var jsonText: String {
        switch self {
        case .integer(let value): return String(value)
        case .string(let value): return JSONText.quoted(value)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        }
    }
}
