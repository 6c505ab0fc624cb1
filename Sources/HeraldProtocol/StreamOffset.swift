/// A position in an account's history: epoch plus stream entry id; string form `"<epoch>:<ms>-<seq>"`.
///
/// The epoch names one incarnation of the history: an offset from another epoch cannot be recovered from.
public struct StreamOffset: Sendable, Hashable, Comparable, LosslessStringConvertible {
    /// Identifies the history's incarnation: 1–32 characters of `[0-9a-z]`.
    public var epoch: String
    /// The stream entry id's milliseconds part.
    public var milliseconds: UInt64
    /// The stream entry id's sequence part.
    public var sequence: UInt64

    public init(epoch: String, milliseconds: UInt64, sequence: UInt64) {
        self.epoch = epoch
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `"<epoch>:<ms>-<seq>"` strictly: a 1–32 character `[0-9a-z]` epoch and two canonical
    /// decimal `UInt64`s (no sign, no leading zeros); anything else is `nil`.
    public init?(_ description: String) {
        let utf8 = description.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let epoch = description[..<colon]
        guard (1...32).contains(epoch.utf8.count), epoch.utf8.allSatisfy(Self.isEpochCharacter) else { return nil }
        // Step by UTF-8 byte: a combining mark after the ':' would join it into one Character.
        let after = utf8.index(after: colon)
        self.init(epoch: String(epoch), streamID: description[after...])
    }

    /// Builds an offset from an epoch and a stream entry id `"<ms>-<seq>"`; `nil` if the id is malformed.
    public init?(epoch: String, streamID: Substring) {
        let parts = streamID.split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 2, let milliseconds = Self.decimal(parts[0]), let sequence = Self.decimal(parts[1]) else {
            return nil
        }
        self.init(epoch: epoch, milliseconds: milliseconds, sequence: sequence)
    }

    /// `"<epoch>:<ms>-<seq>"`.
    public var description: String {
        "\(self.epoch):\(self.streamID)"
    }

    /// The Redis stream entry id, `"<ms>-<seq>"`.
    public var streamID: String {
        "\(self.milliseconds)-\(self.sequence)"
    }

    /// Orders by (milliseconds, sequence), which is only meaningful within one epoch; the epoch breaks
    /// ties so that the order stays consistent with `==`.
    public static func < (lhs: StreamOffset, rhs: StreamOffset) -> Bool {
        (lhs.milliseconds, lhs.sequence, lhs.epoch) < (rhs.milliseconds, rhs.sequence, rhs.epoch)
    }

    private static func isEpochCharacter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    /// A canonical decimal UInt64: digits only, no leading zero unless it is `0`, no overflow.
    private static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return nil
        }
        guard text.utf8.count == 1 || text.utf8.first != UInt8(ascii: "0") else { return nil }
        return UInt64(text)
    }
}
