import EdgeNode
import Foundation
import HeraldTestSupport
import Testing

/// Open connections end when their token does (4003), unless a `refresh` for the same account
/// and user extends them. The node's leeway is the default 30 s, so a token that expired 27 s ago
/// is accepted and has 3 s left.
@Suite("Token expiry on open connections", .serialized)
struct TokenExpiryTests {
    @Test("a connection is closed with 4003 token_expired when its token runs out")
    func expiryCloses() async throws {
        let node = try await RunningNode.start()
        let client = try await node.connect(token: TestToken.expiring(in: -27))
        let started = ContinuousClock.now
        let code = try await client.waitForClose(timeout: .seconds(8))
        #expect(code == 4003)
        let waited = ContinuousClock.now - started
        #expect(waited > .seconds(1) && waited < .seconds(6))
        await node.stop()
    }

    @Test("the close carries the reason token_expired")
    func expiryReason() async throws {
        let node = try await RunningNode.start()
        let client = try await node.connect(token: TestToken.expiring(in: -28))
        var reason: String?
        for _ in 0..<20 {
            guard let message = try? await client.receive(timeout: .seconds(6)) else { break }
            if case .close(let code, let text) = message {
                #expect(code == 4003)
                reason = text
                break
            }
        }
        #expect(reason?.hasPrefix("token_expired") == true)
        await node.stop()
    }

    @Test("refresh with a token of the same account and user extends the connection")
    func refreshExtends() async throws {
        let node = try await RunningNode.start()
        let client = try await node.connect(token: TestToken.expiring(in: -27))
        let renewed = TestToken.expiring(in: 600)
        try await client.sendText(#"{"type":"refresh","token":"\#(renewed)","id":7}"#)
        let answer = try await client.next()
        #expect(answer["type"] as? String == "refreshed")
        #expect(answer["ref"] as? Int == 7)
        let exp = answer["exp"] as? Int ?? 0
        #expect(abs(exp - (Int(Date().timeIntervalSince1970) + 600)) <= 2)
        // Past the old expiry the connection still works.
        try await Task.sleep(for: .seconds(4))
        try await client.sendText(#"{"type":"ping","id":1}"#)
        #expect(try await client.next()["type"] as? String == "pong")
        #expect(!client.isClosed)
        await client.close()
        await node.stop()
    }

    @Test("refresh with a token of another user or account is refused; the connection keeps its own expiry")
    func refreshForAnotherIdentity() async throws {
        let node = try await RunningNode.start()
        let client = try await node.connect(token: TestToken.expiring(in: -27))
        try await client.sendText(#"{"type":"refresh","token":"\#(TestToken.expiring(in: 600, user: "mallory"))","id":1}"#)
        var answer = try await client.next()
        #expect(answer["type"] as? String == "error")
        #expect(answer["code"] as? String == "token_mismatch")
        #expect(answer["ref"] as? Int == 1)
        try await client.sendText(#"{"type":"refresh","token":"\#(TestToken.expiring(in: 600, account: "43"))","id":2}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "token_mismatch")
        // A token that does not verify at all.
        try await client.sendText(#"{"type":"refresh","token":"not.a.jwt","id":3}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "unauthorized")
        try await client.sendText(#"{"type":"refresh","id":4}"#)
        answer = try await client.next()
        #expect(answer["code"] as? String == "malformed_message")
        // Still open now, closed at its own expiry.
        #expect(!client.isClosed)
        #expect(try await client.waitForClose(timeout: .seconds(6)) == 4003)
        await node.stop()
    }
}
