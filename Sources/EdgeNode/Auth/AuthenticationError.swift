import HeraldProtocol

/// Why a connection or API request was refused, with the HTTP status and error code it maps to.
public struct AuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case missingToken, malformedToken, badSignature, expired, notYetValid, algorithmRefused(String), missingClaim(String)
        case invalidClaim(String), unknownKey(String), algorithmMismatch(kid: String, key: String, token: String)
        case accountMismatch, originForbidden, missingAPIKey, badAPIKey, accountForbidden(String)
        case invalidChannel(String), channelForbidden(String), tooManyChannels(Int)
    }
    private let code: Code

    public static let missingToken = Self(code: .missingToken)
    public static let malformedToken = Self(code: .malformedToken)
    public static let badSignature = Self(code: .badSignature)
    public static let expired = Self(code: .expired)
    /// `nbf` lies in the future, beyond the leeway.
    public static let notYetValid = Self(code: .notYetValid)
    public static func algorithmRefused(_ alg: String) -> Self { Self(code: .algorithmRefused(alg)) }
    public static func missingClaim(_ claim: String) -> Self { Self(code: .missingClaim(claim)) }
    /// A claim that is present but not what this node accepts (`aud`, `iss`, `nbf`).
    public static func invalidClaim(_ claim: String) -> Self { Self(code: .invalidClaim(claim)) }
    /// The token's `kid` names no key this node has, even after refreshing the JWKS.
    public static func unknownKey(_ kid: String) -> Self { Self(code: .unknownKey(kid)) }
    /// The key `kid` selects is of another type than the header's `alg`.
    public static func algorithmMismatch(kid: String, key: String, token: String) -> Self {
        Self(code: .algorithmMismatch(kid: kid, key: key, token: token))
    }
    public static let accountMismatch = Self(code: .accountMismatch)
    public static let originForbidden = Self(code: .originForbidden)
    public static let missingAPIKey = Self(code: .missingAPIKey)
    public static let badAPIKey = Self(code: .badAPIKey)
    /// A valid API key used for an account outside its scope.
    public static func accountForbidden(_ account: String) -> Self { Self(code: .accountForbidden(account)) }
    public static func invalidChannel(_ channel: String) -> Self { Self(code: .invalidChannel(channel)) }
    public static func channelForbidden(_ channel: String) -> Self { Self(code: .channelForbidden(channel)) }
    public static func tooManyChannels(_ maximum: Int) -> Self { Self(code: .tooManyChannels(maximum)) }

    /// 401 for credentials that are absent or invalid, 403 for valid credentials used where they
    /// do not belong, 400 for a malformed request.
    public var httpStatus: Int {
        switch code {
        case .accountMismatch, .originForbidden, .channelForbidden, .accountForbidden: return 403
        case .invalidChannel, .tooManyChannels: return 400
        default: return 401
        }
    }

    public var errorCode: ErrorCode {
        switch code {
        case .expired: return .tokenExpired
        case .accountMismatch: return .accountMismatch
        case .originForbidden: return .originForbidden
        case .accountForbidden: return .accountForbidden
        case .invalidChannel: return .invalidChannel
        case .channelForbidden: return .channelForbidden
        case .tooManyChannels: return .tooManySubscriptions
        default: return .unauthorized
        }
    }

    public var description: String {
        switch code {
        case .missingToken:
            return "no token: pass a JWT in Sec-WebSocket-Protocol after 'access_token' or 'bearer', in Authorization: Bearer, or in ?token="
        case .malformedToken: return "the token is not a well-formed JWT"
        case .badSignature: return "the token's signature does not verify with the configured keys"
        case .expired: return "the token has expired: mint a new one"
        case .notYetValid: return "the token's 'nbf' claim lies in the future (beyond the leeway): check the issuer's clock"
        case .algorithmRefused(let alg): return "tokens signed with '\(alg)' are not accepted by this node"
        case .missingClaim(let claim): return "the token has no valid '\(claim)' claim"
        case .invalidClaim(let claim): return "the token's '\(claim)' claim is not one this node accepts"
        case .unknownKey(let kid): return "the token's 'kid' \"\(kid.prefix(64))\" names no key of this node's JWKS"
        case .algorithmMismatch(let kid, let key, let token):
            return "the token's header says '\(token)' but its 'kid' \"\(kid.prefix(64))\" names a \(key) key"
        case .accountMismatch: return "the token's account does not match the account in the path"
        case .originForbidden: return "this Origin is not allowed to connect"
        case .missingAPIKey: return "no API key: send Authorization: Bearer <api key>"
        case .badAPIKey: return "the API key is not valid"
        case .accountForbidden(let account): return "this API key may not be used for account '\(account)'"
        case .invalidChannel(let channel): return "'\(channel)' in ?channels= is not a channel name: 1-\(ChannelName.maximumLength) printable characters"
        case .channelForbidden(let channel): return "the token does not allow channel '\(channel)'"
        case .tooManyChannels(let maximum): return "?channels= names more than \(maximum) channels"
        }
    }
}
