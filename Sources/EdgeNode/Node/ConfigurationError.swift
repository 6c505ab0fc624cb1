/// A configuration the node cannot start with, with what to change.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable {
        case noVerificationKey, weakSecret(Int), invalidPublicKey(String), invalidJWKS(String), invalidListenAddress(String), invalidRedisURL(String)
        case invalidJWKSURL(String, String), invalidAPIKey(String), invalidUpgradeRefusals(String)
        case outOfRange(option: String, value: Int, range: ClosedRange<Int>), notAnInteger(option: String), placeholderSecret(String)
        case invalidOption(option: String, reason: String)
        case consoleUnavailable(root: String, reason: String)
    }
    private let code: Code

    public static let noVerificationKey = Self(code: .noVerificationKey)
    public static func weakSecret(minimumBytes: Int) -> Self { Self(code: .weakSecret(minimumBytes)) }
    public static func invalidPublicKey(_ reason: String) -> Self { Self(code: .invalidPublicKey(reason)) }
    public static func invalidJWKS(_ reason: String) -> Self { Self(code: .invalidJWKS(reason)) }
    public static func invalidJWKSURL(_ url: String, reason: String) -> Self { Self(code: .invalidJWKSURL(url, reason)) }
    /// An `HERALD_API_KEYS` entry whose account scope cannot be read.
    public static func invalidAPIKey(_ reason: String) -> Self { Self(code: .invalidAPIKey(reason)) }
    public static func invalidUpgradeRefusals(_ value: String) -> Self { Self(code: .invalidUpgradeRefusals(value)) }
    public static func invalidListenAddress(_ value: String) -> Self { Self(code: .invalidListenAddress(value)) }
    public static func invalidRedisURL(_ reason: String) -> Self { Self(code: .invalidRedisURL(reason)) }
    public static func outOfRange(option: String, value: Int, range: ClosedRange<Int>) -> Self {
        Self(code: .outOfRange(option: option, value: value, range: range))
    }
    public static func notAnInteger(option: String) -> Self { Self(code: .notAnInteger(option: option)) }
    public static func placeholderSecret(_ option: String) -> Self { Self(code: .placeholderSecret(option)) }
    /// `option` cannot be used as set; `reason` says what it must be.
    public static func invalidOption(_ option: String, _ reason: String) -> Self { Self(code: .invalidOption(option: option, reason: reason)) }
    /// `HERALD_CONSOLE` is on but the console's files cannot be read from `root`.
    public static func consoleUnavailable(root: String, reason: String) -> Self { Self(code: .consoleUnavailable(root: root, reason: reason)) }

    public var description: String {
        switch code {
        case .noVerificationKey:
            return "no token verification key: set HERALD_JWT_SECRET (HS256), HERALD_JWT_PUBLIC_KEY (PEM file), HERALD_JWKS_FILE or HERALD_JWKS_URL"
        case .weakSecret(let minimum):
            return "HERALD_JWT_SECRET must be at least \(minimum) bytes (RFC 7518 §3.2); generate one with: openssl rand -hex 32"
        case .invalidPublicKey(let reason):
            return "HERALD_JWT_PUBLIC_KEY is neither an RSA nor a P-256 public key in PEM form: \(reason)"
        case .invalidJWKS(let reason):
            return "HERALD_JWKS_FILE is not a valid JWKS document: \(reason)"
        case .invalidJWKSURL(let url, let reason):
            return "HERALD_JWKS_URL '\(url)' is not usable: \(reason)"
        case .invalidAPIKey(let reason):
            return "HERALD_API_KEYS: \(reason); an entry is a key, or a key followed by its accounts in braces: key{acct1}{org:*}"
        case .invalidUpgradeRefusals(let value):
            return "HERALD_UPGRADE_REFUSALS is '\(value)'; it must be browser, close or http"
        case .invalidListenAddress(let value):
            return "listen address '\(value)' is not host:port"
        case .invalidRedisURL(let reason):
            return "HERALD_REDIS_URL is not usable: \(reason)"
        case .outOfRange(let option, let value, let range):
            return "\(option) is \(value); it must be between \(range.lowerBound) and \(range.upperBound)"
        case .notAnInteger(let option):
            return "\(option) must be a whole number"
        case .invalidOption(let option, let reason):
            return "\(option) \(reason)"
        case .consoleUnavailable(let root, let reason):
            return "HERALD_CONSOLE is on but its files are not in '\(root)' (\(reason)): set HERALD_CONSOLE_ROOT to the repository's clients/ folder, or turn the console off"
        case .placeholderSecret(let option):
            return "\(option) holds a development or example value: set a real one (e.g. openssl rand -hex 32), or set HERALD_DEVELOPMENT=true on a development machine"
        }
    }
}
