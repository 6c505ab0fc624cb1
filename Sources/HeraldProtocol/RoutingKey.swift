/// A user id or sub-channel name that compares and hashes by its exact UTF-8 bytes.
///
/// Swift's `String` equality is Unicode canonical equivalence, so the NFC and NFD spellings of
/// `é` are equal strings; Redis, JWT issuers and backends treat them as two ids. Routing uses
/// this key so a targeted event reaches only the id spelled exactly as published.
public struct RoutingKey: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The id as text; its UTF-8 bytes are what equality and hashing see.
    public let text: String

    public init(_ text: String) {
        self.text = text
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// True when `other`'s UTF-8 bytes equal this key's.
    public func matches(_ other: String) -> Bool {
        text.utf8.elementsEqual(other.utf8)
    }

    public static func == (lhs: RoutingKey, rhs: RoutingKey) -> Bool {
        lhs.matches(rhs.text)
    }

    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }

    public var description: String { text }
}
