import Foundation

/// The `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` pair of RFC 6455 section 4.
struct TestWebSocketHandshakeKey: Sendable {
    private static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The base64 nonce sent as `Sec-WebSocket-Key`.
    let key: String

    init(key: String) {
        self.key = key
    }

    /// A new random 16-byte nonce.
    static func random() -> TestWebSocketHandshakeKey {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return TestWebSocketHandshakeKey(key: Data(bytes).base64EncodedString())
    }

    /// The `Sec-WebSocket-Accept` value a server must answer with.
    var expectedAccept: String {
        Data(sha1(Array((self.key + Self.guid).utf8))).base64EncodedString()
    }
}

/// SHA-1 (FIPS 180-4). Only used for the handshake check, where it is required by RFC 6455; not for security.
private func sha1(_ message: [UInt8]) -> [UInt8] {
    var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
    var padded = message
    padded.append(0x80)
    while padded.count % 64 != 56 { padded.append(0) }
    let bitLength = UInt64(message.count) * 8
    for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }

    var w = [UInt32](repeating: 0, count: 80)
    for chunkStart in stride(from: 0, to: padded.count, by: 64) {
        for i in 0..<16 {
            let j = chunkStart + i * 4
            w[i] = UInt32(padded[j]) << 24 | UInt32(padded[j + 1]) << 16 | UInt32(padded[j + 2]) << 8 | UInt32(padded[j + 3])
        }
        for i in 16..<80 {
            let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
            w[i] = (x << 1) | (x >> 31)
        }
        var (a, b, c, d, e) = h
        for i in 0..<80 {
            let f: UInt32
            let k: UInt32
            switch i {
            case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
            case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
            case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
            default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
            }
            let temp = ((a << 5) | (a >> 27)) &+ f &+ e &+ k &+ w[i]
            e = d
            d = c
            c = (b << 30) | (b >> 2)
            b = a
            a = temp
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
    }
    return [h.0, h.1, h.2, h.3, h.4].flatMap { word in
        [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
    }
}
