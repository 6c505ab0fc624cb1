import Crypto

/// The HMAC-SHA256 signature of an upstream request body, sent as
/// `X-Herald-Signature: sha256=<hex>` so the endpoint can check the request came from Herald.
///
/// The endpoint recomputes it over the raw body bytes with the shared secret
/// (`HERALD_UPSTREAM_SECRET`) and compares in constant time; the body's `received_at` lets it
/// refuse stale replays.
public struct UpstreamSignature: Sendable {
    /// The request header carrying the signature.
    public static let headerName = "X-Herald-Signature"

    private let key: SymmetricKey

    public init(secret: String) {
        self.key = SymmetricKey(data: Array(secret.utf8))
    }

    /// `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`.
    public func header(for body: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: key)
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("sha256=".utf8)
        text.reserveCapacity(7 + 64)
        for byte in code {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
