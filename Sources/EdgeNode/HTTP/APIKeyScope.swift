import Foundation
import HeraldProtocol

/// The accounts one HTTP API key may publish to and read the presence of.
///
/// In `HERALD_API_KEYS` a key stands alone (any account, as before scopes existed) or is followed
/// by its accounts in braces: `key{acme}{org:*}` may use account `acme` and every account whose
/// id starts with `org:`. Braces are the one delimiter an account id can never contain, so the
/// syntax stays unambiguous whatever the ids hold (`|`, `:`, `@`, `+`, even `,`).
public struct APIKeyScope: Sendable, Equatable {
    private var accounts: Set<String>
    private var prefixes: [String]
    private var unrestricted: Bool

    /// Every account.
    static let all = APIKeyScope(accounts: [], prefixes: [], unrestricted: true)
    /// No account.
    static let noAccount = APIKeyScope(accounts: [], prefixes: [], unrestricted: false)

    /// Whether the key may be used for `account`.
    func allows(_ account: String) -> Bool {
        unrestricted || accounts.contains(account) || prefixes.contains { account.utf8.starts(with: $0.utf8) }
    }

    /// Reads one entry: `key` or `key{account}{prefix*}…`.
    static func parse(entry: String) throws(ConfigurationError) -> (key: String, scope: APIKeyScope) {
        guard let open = entry.firstIndex(of: "{") else {
            guard !entry.contains("}") else { throw .invalidAPIKey("an entry has a '}' without a '{'") }
            return (entry, .all)
        }
        let key = String(entry[..<open])
        guard !key.isEmpty else { throw .invalidAPIKey("an entry has accounts in braces but no key before them") }
        var scope = APIKeyScope(accounts: [], prefixes: [], unrestricted: false)
        var rest = entry[open...]
        while !rest.isEmpty {
            guard rest.first == "{", let close = rest.firstIndex(of: "}") else {
                throw .invalidAPIKey("the scope of a key must be accounts in braces, one per pair: {acct1}{org:*}")
            }
            let pattern = rest[rest.index(after: rest.startIndex)..<close]
            if pattern == "*" {
                scope.unrestricted = true
            } else if pattern.last == "*", AccountName.isValid(pattern.dropLast()) {
                scope.prefixes.append(String(pattern.dropLast()))
            } else if AccountName.isValid(pattern) {
                scope.accounts.insert(String(pattern))
            } else {
                throw .invalidAPIKey("'{\(pattern)}' is neither an account (\(AccountName.rule)) nor a prefix ending in '*'")
            }
            rest = rest[rest.index(after: close)...]
        }
        return (key, scope)
    }

    /// The entries of an `HERALD_API_KEYS` list: split at commas outside braces, trimmed.
    public static func entries(in list: String) -> [String] {
        var entries: [String] = []
        var current = ""
        var depth = 0
        for character in list {
            switch character {
            case "{": depth += 1
            case "}": depth = max(0, depth - 1)
            case "," where depth == 0:
                entries.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        entries.append(current)
        return entries.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
