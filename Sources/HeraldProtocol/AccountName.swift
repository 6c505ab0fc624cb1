/// Validation of the names that end up inside Redis keys and channel names.
///
/// Accounts sit inside a Redis hash tag (`herald:{A}`), so braces and other separators are
/// refused rather than escaped: a name either maps to exactly one key or is rejected.
public enum AccountName {
    /// The longest account id accepted.
    public static let maximumLength = 64

    /// True when `name` is 1–64 characters of `A–Z a–z 0–9 _ - .`.
    public static func isValid(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
    }
}

/// Validation of sub-channel names inside an account.
public enum ChannelName {
    /// The longest sub-channel name accepted.
    public static let maximumLength = 128

    /// True when `name` is 1–128 printable ASCII characters without spaces.
    public static func isValid(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
