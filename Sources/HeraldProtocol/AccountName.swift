/// Validation of the names that end up inside Redis keys and channel names.
///
/// Accounts sit inside a Redis hash tag (`herald:{A}`), so braces are refused rather than escaped:
/// without `{` and `}` in A, the tag of every key of the account is exactly A (Redis hashes what lies
/// between the first `{` and the next `}`), and a key names exactly one account. Everything else
/// printable is allowed, so identity-provider ids work as they are: `auth0|5f3c…`, `org:42`,
/// `ops@example.com`.
public enum AccountName {
    /// The longest account id accepted, in bytes.
    public static let maximumLength = 128

    /// The rule, for error messages.
    public static let rule = "1-\(maximumLength) bytes of printable ASCII without spaces, '{' or '}'"

    /// True when `name` is 1–128 bytes of printable ASCII (`!` to `~`) other than `{` and `}`.
    public static func isValid(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "{") && byte != UInt8(ascii: "}")
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
