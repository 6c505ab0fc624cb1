/// Checks bytes for well-formed UTF-8 incrementally, so a message split into WebSocket fragments
/// fails at the first bad byte (RFC 6455 §8.1) without being joined first.
///
/// Well-formed as Unicode defines it (table 3-7): no overlong forms, no surrogates (U+D800–DFFF),
/// nothing above U+10FFFF.
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current character.
    private var needed = 0
    /// The allowed range of the next continuation byte (narrower right after some lead bytes).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// What a lead byte (≥ 0x80) announces: the continuation bytes that follow and the range the
    /// first of them must lie in; nil for a byte that cannot start a character.
    @inlinable
    public static func sequence(lead byte: UInt8) -> (continuations: Int, second: ClosedRange<UInt8>)? {
        switch byte {
        case 0xC2...0xDF: return (1, 0x80...0xBF)
        case 0xE0: return (2, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: return (2, 0x80...0xBF)
        case 0xED: return (2, 0x80...0x9F)
        case 0xF0: return (3, 0x90...0xBF)
        case 0xF1...0xF3: return (3, 0x80...0xBF)
        case 0xF4: return (3, 0x80...0x8F)
        default: return nil
        }
    }

    /// Feeds the next bytes; false as soon as they cannot be part of well-formed UTF-8.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            if needed == 0 {
                if byte < 0x80 { continue }
                guard let sequence = Self.sequence(lead: byte) else { return false }
                (needed, lower, upper) = (sequence.continuations, sequence.second.lowerBound, sequence.second.upperBound)
            } else {
                guard byte >= lower, byte <= upper else { return false }
                (lower, upper) = (0x80, 0xBF)
                needed -= 1
            }
        }
        return true
    }

    /// Whether the bytes fed so far end on a character boundary.
    public var isComplete: Bool { needed == 0 }

    /// Whether `bytes` are well-formed UTF-8 as a whole.
    public static func isValid(_ bytes: some Sequence<UInt8>) -> Bool {
        var validator = UTF8Validator()
        return validator.feed(bytes) && validator.isComplete
    }
}
