/// A JSON text that ``JSONScanner`` validated: its root value and the root's direct children, as
/// byte ranges into the scanned bytes, so callers can read a few fields or splice values unchanged.
///
/// Offsets count from the first scanned byte; only the root's children are listed, never deeper ones.
public struct JSONOutline: Sendable, Equatable {
    /// The kind of a JSON value, as written.
    public enum Kind: Sendable, Equatable {
        case object, array, string
        /// A number written without fraction or exponent (`7`, `-0`, `9007199254740993`), of any size.
        case integer
        /// A number with a fraction or an exponent (`1.5`, `1e3`, `2.0`).
        case number
        case boolean, null
    }

    /// One value: its kind and where its text lies (a string's range includes its quotes).
    public struct Value: Sendable, Equatable {
        public var kind: Kind
        public var range: Range<Int>
        /// Whether a string contains backslash escapes, so its raw bytes are not its value.
        public var hasEscapes: Bool

        public init(kind: Kind, range: Range<Int>, hasEscapes: Bool = false) {
            self.kind = kind
            self.range = range
            self.hasEscapes = hasEscapes
        }

        /// The value's text exactly as written (a string's with its quotes and escapes).
        public func text(in bytes: UnsafeRawBufferPointer) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }

        /// A string's value with its escapes resolved; nil for other kinds.
        public func string(in bytes: UnsafeRawBufferPointer) -> String? {
            guard kind == .string else { return nil }
            let contents = stringContents(in: bytes)
            guard hasEscapes else { return String(decoding: contents, as: UTF8.self) }
            return String(decoding: JSONScanner.unescape(contents), as: UTF8.self)
        }

        /// True when this is a string whose value is exactly `name`'s bytes.
        public func isString(_ name: StaticString, in bytes: UnsafeRawBufferPointer) -> Bool {
            guard kind == .string else { return false }
            let expected = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            let contents = stringContents(in: bytes)
            guard hasEscapes else { return contents.elementsEqual(expected) }
            return JSONScanner.unescape(contents).elementsEqual(expected)
        }

        /// A string's bytes between its quotes, escapes unresolved.
        private func stringContents(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
        }
    }

    /// One member of an object: its key (a string value) and its value.
    public struct Member: Sendable, Equatable {
        public var key: Value
        public var value: Value

        public init(key: Value, value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// The whole text's value.
    public var root: Value
    /// The members of an object root, in document order (duplicates kept); empty otherwise.
    public var members: [Member]
    /// The elements of an array root, in order; empty otherwise.
    public var elements: [Value]

    public init(root: Value, members: [Member] = [], elements: [Value] = []) {
        self.root = root
        self.members = members
        self.elements = elements
    }
}
