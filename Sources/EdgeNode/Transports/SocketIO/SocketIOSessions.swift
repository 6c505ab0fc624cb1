import NIOConcurrencyHelpers
import NIOCore

/// The node's Engine.IO sessions by `sid`, so every request of a polling client — whatever
/// connection and event loop it arrives on — reaches its session on the loop that holds it.
///
/// Bounded: at most `maxSessions` at once (a handshake beyond is refused with 503), and each
/// entry is removed when its session ends — by the client, by the `CONNECT` deadline, by missing
/// pongs (the session's idle rule) or by the node.
final class SocketIOSessions: Sendable {
    private struct Entry: Sendable {
        var eventLoop: EventLoop
        var transport: NIOLoopBound<SocketIOTransport>
    }

    let maxSessions: Int
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    init(maxSessions: Int) {
        self.maxSessions = maxSessions
    }

    var count: Int { entries.withLockedValue { $0.count } }

    /// Registers a session (call on its loop); false when the node holds `maxSessions` already.
    func add(_ transport: SocketIOTransport) -> Bool {
        let entry = Entry(eventLoop: transport.eventLoop, transport: NIOLoopBound(transport, eventLoop: transport.eventLoop))
        return entries.withLockedValue { entries in
            guard entries.count < maxSessions else { return false }
            entries[transport.sid] = entry
            return true
        }
    }

    func remove(sid: String) {
        _ = entries.withLockedValue { $0.removeValue(forKey: sid) }
    }

    /// The session `sid` and its loop, to use on that loop; nil when there is none.
    func session(_ sid: String) -> (eventLoop: EventLoop, transport: NIOLoopBound<SocketIOTransport>)? {
        entries.withLockedValue { $0[sid] }.map { ($0.eventLoop, $0.transport) }
    }

    /// Runs `body` with the session `sid` on its loop; nil when there is none.
    func withSession<Result: Sendable>(
        _ sid: String, _ body: @escaping @Sendable (SocketIOTransport) -> EventLoopFuture<Result>
    ) -> EventLoopFuture<Result>? {
        guard let (eventLoop, transport) = session(sid) else { return nil }
        return eventLoop.flatSubmit { body(transport.value) }
    }

    /// A new session id: 128 random bits, base64url. It is the polling client's only credential
    /// between requests, so it must not be guessable.
    static func newSID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<16 { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var text = ""
        var bits = 0
        var value = 0
        for byte in bytes {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                text.unicodeScalars.append(UnicodeScalar(alphabet[(value >> bits) & 0x3F]))
            }
        }
        if bits > 0 { text.unicodeScalars.append(UnicodeScalar(alphabet[(value << (6 - bits)) & 0x3F])) }
        return text
    }
}
