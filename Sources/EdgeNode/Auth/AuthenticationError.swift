import HeraldProtocol

/// Why a connection or API request was refused, with the HTTP status and error code it maps to.
public struct AuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case missingToken, malformedToken, badSignature, expired, algorithmRefused(String), missingClaim(String)
        case accountMismatch, originForbidden, missingAPIKey, badAPIKey
        case invalidChannel(String), channelForbidden(String), tooManyChannels(Int)
    }
    private let code: Code

    public static let missingToken = Self(code: .missingToken)
    public static let malformedToken = Self(code: .malformedToken)
    public static let badSignature = Self(code: .badSignature)
    public static let expired = Self(code: .expired)
    public static func algorithmRefused(_ alg: String) -> Self { Self(code: .algorithmRefused(alg)) }
    public static func missingClaim(_ claim: String) -> Self { Self(code: .missingClaim(claim)) }
    public static let accountMismatch = Self(code: .accountMismatch)
    public static let originForbidden = Self(code: .originForbidden)
    public static let missingAPIKey = Self(code: .missingAPIKey)
    public static let badAPIKey = Self(code: .badAPIKey)
    public static func invalidChannel(_ channel: String) -> Self { Self(code: .invalidChannel(channel)) }
    public static func channelForbidden(_ channel: String) -> Self { Self(code: .channelForbidden(channel)) }
    public static func tooManyChannels(_ maximum: Int) -> Self { Self(code: .tooManyChannels(maximum)) }

    /// 401 for credentials that are absent or invalid, 403 for valid credentials used where they
    /// do not belong, 400 for a malformed request.
    public var httpStatus: Int {
        switch code {
        case .accountMismatch, .originForbidden, .channelForbidden: return 403
        case .invalidChannel, .tooManyChannels: return 400
        default: return 401
        }
    }

    public var errorCode: ErrorCode {
        switch code {
        case .expired: return .tokenExpired
        case .accountMismatch: return .accountMismatch
        case .originForbidden: return .originForbidden
        case .invalidChannel: return .invalidChannel
        case .channelForbidden: return .channelForbidden
        case .tooManyChannels: return .tooManySubscriptions
        default: return .unauthorized
        }
    }

    public var description: String {
        switch code {
        case .missingToken: return "no token: pass a JWT in ?token=, Authorization: Bearer, or Sec-WebSocket-Protocol after 'bearer'"
        case .malformedToken: return "the token is not a well-formed JWT"
        case .badSignature: return "the token's signature does not verify with the configured keys"
        case .expired: return "the token has expired: mint a new one"
        case .algorithmRefused(let alg): return "tokens signed with '\(alg)' are not accepted by this node"
        case .missingClaim(let claim): return "the token has no valid '\(claim)' claim"
        case .accountMismatch: return "the token's account does not match the account in the path"
        case .originForbidden: return "this Origin is not allowed to connect"
        case .missingAPIKey: return "no API key: send Authorization: Bearer <api key>"
        case .badAPIKey: return "the API key is not valid"
        case .invalidChannel(let channel): return "'\(channel)' in ?channels= is not a channel name: 1-\(ChannelName.maximumLength) printable characters"
        case .channelForbidden(let channel): return "the token does not allow channel '\(channel)'"
        case .tooManyChannels(let maximum): return "?channels= names more than \(maximum) channels"
        }
    }
}
