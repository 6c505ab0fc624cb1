import HeraldProtocol
import Testing

@Suite("JSONScanner: strict RFC 8259 validation and outlines")
struct JSONScannerTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let valid: [String] = [
        "{}", "[]", " { } ", "0", "-0", "7", "1.5", "-1.0e-3", "1e3", "1E+3", "2.0", "1e-0",
        "123456789012345678901234567890", #""x""#, "true", "false", "null", "\t\r\n null \n",
        #"{"a" : [1, {"b":null}, "c", true, false, -2.5e10] }"#,
        #""\u00e9\ud83d\ude00\u0000\/\b\f\n\r\t\\\"""#, "\"é€😀\"", #"{"":""}"#, #"[[[[]]]]"#,
        #"{"a":1,"a":2}"#,
    ]

    @Test("accepts valid JSON", arguments: valid)
    func acceptsValid(text: String) throws {
        _ = try JSONScanner().scan(Self.bytes(text))
    }

    static let invalidSyntax: [String] = [
        "", " ", "{", "}", "[", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "[1]]", "{a:1}", "{'a':1}",
        "01", "-01", "-", "1.", ".5", "1e", "1e+", "+1", "NaN", "Infinity", "-Infinity", "0x10", "1.5.2",
        "tru", "nul", "True", "\"abc", "{\"a\":1}x", "{} {}", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"",
        "\"a\nb\"", "\"\t\"", "\"\u{7}\"", "\u{FEFF}{}", "[1,,2]", "{\"a\":1 \"b\":2}", "{,}", "[,]", "// c\n{}",
    ]

    @Test("refuses malformed JSON", arguments: invalidSyntax)
    func refusesSyntax(text: String) {
        #expect(throws: JSONScanner.Error.self) { try JSONScanner().scan(Self.bytes(text)) }
    }

    static let invalidUTF8: [[UInt8]] = [
        [0xC3, 0x28],  // lead byte without continuation
        [0xA0],  // lone continuation byte
        [0xC0, 0xAF],  // overlong '/'
        [0xC1, 0xBF],  // overlong
        [0xE0, 0x80, 0xAF],  // overlong 3-byte
        [0xF0, 0x80, 0x80, 0xAF],  // overlong 4-byte
        [0xED, 0xA0, 0x80],  // UTF-8 encoded surrogate U+D800
        [0xED, 0xBF, 0xBF],  // UTF-8 encoded surrogate U+DFFF
        [0xF4, 0x90, 0x80, 0x80],  // past U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],
        [0xFF], [0xFE],
        [0xE2, 0x82],  // truncated '€'
        [0xF0, 0x9F, 0x98],  // truncated emoji
        [0xE2, 0x28, 0xA1],
    ]

    @Test("refuses invalid UTF-8 inside strings", arguments: invalidUTF8)
    func refusesInvalidUTF8(sequence: [UInt8]) {
        let text = Self.bytes(#"{"data":"a"#) + sequence + Self.bytes(#"b"}"#)
        do {
            _ = try JSONScanner().scan(text)
            Issue.record("accepted \(sequence)")
        } catch {
            #expect(error.isInvalidUnicode, "\(error)")
            #expect(error.offset == 10)
        }
    }

    @Test func refusesRawBytesOutsideStrings() {
        #expect(throws: JSONScanner.Error.self) { try JSONScanner().scan(Self.bytes("{") + [0xC3, 0xA9] + Self.bytes(":1}")) }
        #expect(throws: JSONScanner.Error.self) { try JSONScanner().scan(Self.bytes("{}") + [0xC3, 0xA9]) }
    }

    static let unpairedSurrogates = [
        #""\uD800""#, #""\uDC00""#, #""\uD800\u0041""#, #""\uD800x""#, #""\uDBFF\uDBFF""#, #""\ud83d""#, #""a\uDFFFb""#,
    ]

    @Test("refuses \\u escapes of unpaired surrogates", arguments: unpairedSurrogates)
    func refusesUnpairedSurrogates(text: String) {
        do {
            _ = try JSONScanner().scan(Self.bytes(text))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.isInvalidUnicode)
        }
    }

    @Test func nestingLimit() throws {
        let depth = JSONScanner.defaultMaximumDepth
        _ = try JSONScanner().scan(Self.bytes(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)))
        _ = try JSONScanner().scan(Self.bytes(String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)))
        #expect(throws: JSONScanner.Error.self) {
            try JSONScanner().scan(Self.bytes(String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)))
        }
        // A hostile depth fails fast instead of exhausting the stack.
        #expect(throws: JSONScanner.Error.self) { try JSONScanner().scan(Self.bytes(String(repeating: "[", count: 1_000_000))) }
        #expect(throws: JSONScanner.Error.self) { try JSONScanner(maximumDepth: 2).scan(Self.bytes("[[[]]]")) }
    }

    @Test func outlinesTheRootsChildren() throws {
        let text = Self.bytes(#" {"b":1, "a" : 1.50,"c":1e2,"s":"x\"y","o":{"n":[true]},"z":null,"b":-0} "#)
        let outline = try JSONScanner().scan(text)
        #expect(outline.root.kind == .object)
        #expect(outline.root.range == 1..<(text.count - 1))
        text.withUnsafeBytes { raw in
            #expect(outline.members.map { $0.key.string(in: raw) } == ["b", "a", "c", "s", "o", "z", "b"])
            #expect(outline.members.map(\.value.kind) == [.integer, .number, .number, .string, .object, .null, .integer])
            #expect(outline.members.map { $0.value.text(in: raw) } == ["1", "1.50", "1e2", #""x\"y""#, #"{"n":[true]}"#, "null", "-0"])
            #expect(outline.members[3].value.string(in: raw) == #"x"y"#)
            #expect(outline.members[3].value.hasEscapes)
            #expect(!outline.members[0].key.hasEscapes)
        }
        let array = try JSONScanner().scan(Self.bytes(#"[{"a":1}, 2, "three"]"#))
        #expect(array.elements.map(\.kind) == [.object, .integer, .string])
        #expect(array.elements.map(\.range) == [1..<8, 10..<11, 13..<20])
        #expect(array.members.isEmpty)
        #expect(try JSONScanner().scan(Self.bytes("true")).root == JSONOutline.Value(kind: .boolean, range: 0..<4))
    }

    @Test func resolvesEscapes() throws {
        let text = Self.bytes(#"{"k\u0065y":"a\u00e9\ud83d\ude00\n\/\\\"\u0000","t":"typ\u0065"}"#)
        let outline = try JSONScanner().scan(text)
        text.withUnsafeBytes { raw in
            #expect(outline.members[0].key.string(in: raw) == "key")
            #expect(outline.members[0].key.isString("key", in: raw))
            #expect(!outline.members[0].key.isString("ke", in: raw))
            #expect(outline.members[0].value.string(in: raw) == "aé😀\n/\\\"\u{0}")
            #expect(outline.members[1].value.isString("type", in: raw))
            #expect(outline.members[1].value.string(in: raw) == "type")
        }
    }
}
