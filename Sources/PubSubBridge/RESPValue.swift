import NIOCore

/// A reply from Redis in the RESP2 protocol, converted from hiredis's `redisReply`.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// A binary-safe bulk string; the buffer holds exactly the bytes Redis sent.
    case bulkString(ByteBuffer)
    /// A null bulk string or null array.
    case null
    case array([RESPValue])
}

extension RESPValue {
    /// The value as text: simple strings, and bulk strings decoded as UTF-8.
    public var string: String? {
        switch self {
        case .simpleString(let string):
            return string
        case .bulkString(let buffer):
            return String(buffer: buffer)
        case .error, .integer, .null, .array:
            return nil
        }
    }

    /// The value as an integer: integer replies, and simple or bulk strings holding a decimal integer.
    public var int: Int64? {
        switch self {
        case .integer(let value):
            return value
        case .simpleString, .bulkString:
            return self.string.flatMap { Int64($0) }
        case .error, .null, .array:
            return nil
        }
    }

    /// The raw bytes of a bulk string.
    public var bytes: ByteBuffer? {
        guard case .bulkString(let buffer) = self else { return nil }
        return buffer
    }

    /// The elements of an array reply.
    public var array: [RESPValue]? {
        guard case .array(let elements) = self else { return nil }
        return elements
    }

    /// Whether this is a null bulk string or null array.
    public var isNull: Bool {
        self == .null
    }
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let string):
            return string
        case .error(let message):
            return "(error) \(message)"
        case .integer(let value):
            return "(integer) \(value)"
        case .bulkString(let buffer):
            return "\"\(String(decoding: buffer.readableBytesView, as: UTF8.self))\""
        case .null:
            return "(nil)"
        case .array(let elements):
            return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
