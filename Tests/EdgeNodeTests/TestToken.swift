import Crypto
import Foundation

/// HS256 tokens signed with the fixture's secret, with any claims, as a backend would mint them.
enum TestToken {
    static func signed(_ claims: [String: Any], header: [String: Any] = ["alg": "HS256", "typ": "JWT"], secret: String = Fixture.secret) -> String {
        func encode(_ object: [String: Any]) -> String { base64URL(try! JSONSerialization.data(withJSONObject: object)) }
        let input = encode(header) + "." + encode(claims)
        let signature = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + base64URL(Data(signature))
    }

    /// A token for `account`/`user` whose `exp` is `expiresIn` seconds from now (negative: in the past).
    static func expiring(in expiresIn: Int, account: String = "42", user: String = "alice", extra: [String: Any] = [:]) -> String {
        var claims: [String: Any] = ["sub": user, "account": account, "exp": Int(Date().timeIntervalSince1970) + expiresIn]
        claims.merge(extra) { $1 }
        return signed(claims)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
