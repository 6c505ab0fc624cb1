/// A strict RFC 8259 validator that outlines a JSON text without building it: one pass over the
/// bytes, no allocation besides the root's child list.
///
/// It refuses what a lenient parser would let through to a browser: invalid UTF-8 (overlong forms,
/// surrogates, code points past U+10FFFF, stray continuation bytes), unpaired `\u` surrogates,
/// control characters in strings, leading zeros, a byte-order mark, trailing data, and nesting
/// deeper than ``maximumDepth``.
public struct JSONScanner: Sendable {
    /// Why a text is not accepted, and at which byte.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        private enum Code: Sendable, Equatable {
            case invalidUTF8, unpairedSurrogate, unexpectedEnd, unexpectedByte, invalidEscape
            case controlCharacter, invalidNumber, tooDeep, trailingData
        }

        private let code: Code
        /// The offset of the offending byte from the first scanned byte.
        public let offset: Int

        private init(_ code: Code, at offset: Int) {
            self.code = code
            self.offset = offset
        }

        static func invalidUTF8(at offset: Int) -> Self { Self(.invalidUTF8, at: offset) }
        static func unpairedSurrogate(at offset: Int) -> Self { Self(.unpairedSurrogate, at: offset) }
        static func unexpectedEnd(at offset: Int) -> Self { Self(.unexpectedEnd, at: offset) }
        static func unexpectedByte(at offset: Int) -> Self { Self(.unexpectedByte, at: offset) }
        static func invalidEscape(at offset: Int) -> Self { Self(.invalidEscape, at: offset) }
        static func controlCharacter(at offset: Int) -> Self { Self(.controlCharacter, at: offset) }
        static func invalidNumber(at offset: Int) -> Self { Self(.invalidNumber, at: offset) }
        static func tooDeep(at offset: Int) -> Self { Self(.tooDeep, at: offset) }
        static func trailingData(at offset: Int) -> Self { Self(.trailingData, at: offset) }

        /// True when the text is not valid Unicode: bad UTF-8 bytes, or a `\u` escape of an unpaired surrogate.
        public var isInvalidUnicode: Bool { code == .invalidUTF8 || code == .unpairedSurrogate }

        public var description: String {
            switch code {
            case .invalidUTF8: return "invalid UTF-8 at byte \(offset)"
            case .unpairedSurrogate: return "a \\u escape of an unpaired surrogate at byte \(offset)"
            case .unexpectedEnd: return "the text ends early at byte \(offset)"
            case .unexpectedByte: return "unexpected character at byte \(offset)"
            case .invalidEscape: return "invalid escape at byte \(offset)"
            case .controlCharacter: return "unescaped control character in a string at byte \(offset)"
            case .invalidNumber: return "malformed number at byte \(offset)"
            case .tooDeep: return "nested deeper than allowed at byte \(offset)"
            case .trailingData: return "data after the JSON value at byte \(offset)"
            }
        }
    }

    /// Nesting accepted by default: far beyond real events, well within a thread's stack.
    public static let defaultMaximumDepth = 128

    /// The deepest nesting of objects and arrays accepted (the root container is depth 1).
    public var maximumDepth: Int

    public init(maximumDepth: Int = JSONScanner.defaultMaximumDepth) {
        self.maximumDepth = maximumDepth
    }

    /// Validates `bytes` as exactly one JSON text and outlines it.
    public func scan(_ bytes: UnsafeRawBufferPointer) throws(Error) -> JSONOutline {
        var cursor = Cursor(bytes: bytes, maximumDepth: maximumDepth)
        return try cursor.document()
    }

    /// Validates `bytes` as exactly one JSON text and outlines it (offsets count from `bytes.first`).
    public func scan(_ bytes: some Collection<UInt8>) throws(Error) -> JSONOutline {
        try bytes.withContiguousBytes { (raw) throws(Error) in try scan(raw) }
    }

    /// The UTF-8 bytes of a validated string's contents (between its quotes) with escapes resolved.
    static func unescape(_ contents: UnsafeRawBufferPointer) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(contents.count)
        var index = 0
        while index < contents.count {
            let byte = contents[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            let escape = contents[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(Cursor.hexValue(contents, at: index))
                index += 4
                if scalar & 0xFC00 == 0xD800 {
                    let low = UInt32(Cursor.hexValue(contents, at: index + 2))
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                output.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(scalar)!)!)
            default: output.append(escape)  // `"`, `\`, `/`
            }
        }
        return output
    }

    /// The scanning state over one text; recursion depth is bounded by `maximumDepth`.
    private struct Cursor {
        let bytes: UnsafeRawBufferPointer
        let maximumDepth: Int
        var index = 0

        init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
        }

        mutating func document() throws(Error) -> JSONOutline {
            skipWhitespace()
            var outline: JSONOutline
            switch try peek() {
            case UInt8(ascii: "{"):
                var members: [JSONOutline.Member] = []
                members.reserveCapacity(8)  // events have a handful of top-level keys
                let range = try object(depth: 1) { members.append($0) }
                outline = JSONOutline(root: JSONOutline.Value(kind: .object, range: range), members: members)
            case UInt8(ascii: "["):
                var elements: [JSONOutline.Value] = []
                let range = try array(depth: 1) { elements.append($0) }
                outline = JSONOutline(root: JSONOutline.Value(kind: .array, range: range), elements: elements)
            default:
                outline = JSONOutline(root: try value(depth: 0))
            }
            skipWhitespace()
            guard index == bytes.count else { throw .trailingData(at: index) }
            return outline
        }

        @inline(__always)
        private func peek() throws(Error) -> UInt8 {
            guard index < bytes.count else { throw .unexpectedEnd(at: index) }
            return bytes[index]
        }

        @inline(__always)
        private mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func expect(_ byte: UInt8) throws(Error) {
            guard try peek() == byte else { throw .unexpectedByte(at: index) }
            index += 1
        }

        private mutating func value(depth: Int) throws(Error) -> JSONOutline.Value {
            let start = index
            switch try peek() {
            case UInt8(ascii: "{"):
                return JSONOutline.Value(kind: .object, range: try object(depth: depth + 1) { _ in })
            case UInt8(ascii: "["):
                return JSONOutline.Value(kind: .array, range: try array(depth: depth + 1) { _ in })
            case UInt8(ascii: "\""):
                let hasEscapes = try string()
                return JSONOutline.Value(kind: .string, range: start..<index, hasEscapes: hasEscapes)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let isInteger = try number()
                return JSONOutline.Value(kind: isInteger ? .integer : .number, range: start..<index)
            case UInt8(ascii: "t"):
                try literal("true")
                return JSONOutline.Value(kind: .boolean, range: start..<index)
            case UInt8(ascii: "f"):
                try literal("false")
                return JSONOutline.Value(kind: .boolean, range: start..<index)
            case UInt8(ascii: "n"):
                try literal("null")
                return JSONOutline.Value(kind: .null, range: start..<index)
            default:
                throw .unexpectedByte(at: start)
            }
        }

        private mutating func literal(_ word: StaticString) throws(Error) {
            for offset in 0..<word.utf8CodeUnitCount {
                guard try peek() == word.utf8Start[offset] else { throw .unexpectedByte(at: index) }
                index += 1
            }
        }

        private mutating func object(depth: Int, member: (JSONOutline.Member) -> Void) throws(Error) -> Range<Int> {
            try container(closing: UInt8(ascii: "}"), depth: depth) { (cursor) throws(Error) in
                let keyStart = cursor.index
                guard try cursor.peek() == UInt8(ascii: "\"") else { throw .unexpectedByte(at: cursor.index) }
                let keyEscaped = try cursor.string()
                let key = JSONOutline.Value(kind: .string, range: keyStart..<cursor.index, hasEscapes: keyEscaped)
                cursor.skipWhitespace()
                try cursor.expect(UInt8(ascii: ":"))
                cursor.skipWhitespace()
                member(JSONOutline.Member(key: key, value: try cursor.value(depth: depth)))
            }
        }

        private mutating func array(depth: Int, element: (JSONOutline.Value) -> Void) throws(Error) -> Range<Int> {
            try container(closing: UInt8(ascii: "]"), depth: depth) { (cursor) throws(Error) in
                element(try cursor.value(depth: depth))
            }
        }

        /// Scans an object or array from its opening bracket past `closing`; `item` scans one
        /// member or element, and items are separated by commas (none trailing).
        private mutating func container(
            closing: UInt8, depth: Int, item: (inout Cursor) throws(Error) -> Void
        ) throws(Error) -> Range<Int> {
            let start = index
            guard depth <= maximumDepth else { throw .tooDeep(at: start) }
            index += 1
            skipWhitespace()
            if try peek() == closing {
                index += 1
                return start..<index
            }
            while true {
                try item(&self)
                skipWhitespace()
                switch try peek() {
                case UInt8(ascii: ","):
                    index += 1
                    skipWhitespace()
                case closing:
                    index += 1
                    return start..<index
                default:
                    throw .unexpectedByte(at: index)
                }
            }
        }

        /// Scans a string from its opening quote past its closing one; returns whether it has escapes.
        private mutating func string() throws(Error) -> Bool {
            index += 1
            var hasEscapes = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {  // the common case first
                    index += 1
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return hasEscapes
                case UInt8(ascii: "\\"):
                    hasEscapes = true
                    try escape()
                case 0x00..<0x20:
                    throw .controlCharacter(at: index)
                case 0x20..<0x80:
                    index += 1
                default:
                    try multiByteSequence()
                }
            }
            throw .unexpectedEnd(at: index)
        }

        /// Validates one escape sequence starting at its backslash; a `\u` high surrogate must be
        /// followed by a `\u` low surrogate, and a low surrogate may not stand alone.
        private mutating func escape() throws(Error) {
            let start = index
            guard index + 1 < bytes.count else { throw .unexpectedEnd(at: bytes.count) }
            switch bytes[index + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                index += 2
            case UInt8(ascii: "u"):
                let unit = try hexUnit(at: index + 2)
                index += 6
                switch unit {
                case 0xD800...0xDBFF:
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                        case 0xDC00...0xDFFF = try hexUnit(at: index + 2)
                    else { throw .unpairedSurrogate(at: start) }
                    index += 6
                case 0xDC00...0xDFFF:
                    throw .unpairedSurrogate(at: start)
                default:
                    break
                }
            default:
                throw .invalidEscape(at: start)
            }
        }

        /// The UTF-16 code unit of four hex digits at `offset`.
        private func hexUnit(at offset: Int) throws(Error) -> UInt16 {
            guard offset + 4 <= bytes.count else { throw .unexpectedEnd(at: bytes.count) }
            for position in offset..<(offset + 4) where Self.hexDigit(bytes[position]) == nil {
                throw .invalidEscape(at: position)
            }
            return Self.hexValue(bytes, at: offset)
        }

        static func hexDigit(_ byte: UInt8) -> UInt16? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt16(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt16(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt16(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        /// Four hex digits already known to be valid, as a code unit.
        static func hexValue(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt16 {
            (offset..<(offset + 4)).reduce(0) { $0 << 4 | (hexDigit(bytes[$1]) ?? 0) }
        }

        /// Validates one multi-byte UTF-8 sequence at `index` (Unicode 15, table 3-7) and steps past it.
        private mutating func multiByteSequence() throws(Error) {
            guard let sequence = UTF8Validator.sequence(lead: bytes[index]) else { throw .invalidUTF8(at: index) }
            let length = sequence.continuations + 1
            let second = sequence.second
            guard index + length <= bytes.count else { throw .invalidUTF8(at: index) }
            guard second.contains(bytes[index + 1]) else { throw .invalidUTF8(at: index) }
            for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 {
                throw .invalidUTF8(at: index)
            }
            index += length
        }

        /// Scans a number; returns true when it is written as an integer (no fraction, no exponent).
        private mutating func number() throws(Error) -> Bool {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw .invalidNumber(at: start) }
            switch bytes[index] {
            case UInt8(ascii: "0"): index += 1
            case UInt8(ascii: "1")...UInt8(ascii: "9"): skipDigits()
            default: throw .invalidNumber(at: start)
            }
            var isInteger = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                guard requireDigits() else { throw .invalidNumber(at: start) }
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                isInteger = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard requireDigits() else { throw .invalidNumber(at: start) }
            }
            return isInteger
        }

        private mutating func skipDigits() {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        }

        /// Skips one or more digits; false when there is none.
        private mutating func requireDigits() -> Bool {
            let start = index
            skipDigits()
            return index > start
        }
    }
}
