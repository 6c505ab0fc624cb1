import Crypto
@testable import EdgeNode
import Foundation
import HTTPUpstream
import HeraldBroker
import HeraldProtocol
import NIOCore
import RedisBackend
import Testing

/// The client side of upstream messages and replies, without sockets: which messages go
/// upstream and with which bytes, how a reply targets one connection, and the wire forms.
@Suite("Upstream messages and replies: protocol")
struct UpstreamProtocolTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func session(_ policy: UpstreamPolicy? = UpstreamPolicy(), rate: Int = 100, burst: Int = 100) -> ClientSession {
        ClientSession(
            identity: ClientIdentity(user: "alice", account: "42", channels: []),
            maxSubscriptions: 2, messagesPerSecond: rate, burst: burst, now: start, upstream: policy)
    }

    func code(_ actions: [ClientSession.Action]) -> ErrorCode? {
        guard case .send(.error(let code, _, _))? = actions.first else { return nil }
        return code
    }

    @Test("a message of a type Herald does not handle goes upstream with its data byte for byte")
    func forwardsDataUnchanged() {
        var session = session()
        let text = #"{"type":"sendMessage","id":"r1","data":{ "b":1.50, "a":"\u00e9",  "n":9007199254740993 }}"#
        #expect(session.receive(text: Array(text.utf8), now: start)
            == [.upstream(type: "sendMessage", id: .string("r1"), data: Array(#"{ "b":1.50, "a":"\u00e9",  "n":9007199254740993 }"#.utf8))])
        #expect(session.receive(text: Array(#"{"type":"markAsRead","id":7}"#.utf8), now: start)
            == [.upstream(type: "markAsRead", id: .integer(7), data: Array("null".utf8))])
        // Herald's own types are still Herald's.
        #expect(session.receive(text: Array(#"{"type":"ping","id":1}"#.utf8), now: start) == [.send(.pong(ref: .integer(1)))])
    }

    @Test("without an upstream, reserved types, types off the allow-list, duplicate data and oversized messages are refused")
    func refusals() {
        var none = session(nil)
        #expect(code(none.receive(text: Array(#"{"type":"sendMessage","id":"r1"}"#.utf8), now: start)) == .unknownType)

        var listed = session(UpstreamPolicy(types: ["sendMessage", "notification:*"], maxMessageBytes: 100))
        #expect(listed.receive(text: Array(#"{"type":"notification:mark-read"}"#.utf8), now: start)
            == [.upstream(type: "notification:mark-read", id: nil, data: Array("null".utf8))])
        #expect(code(listed.receive(text: Array(#"{"type":"sendMessages"}"#.utf8), now: start)) == .unknownType)
        #expect(code(listed.receive(text: Array(#"{"type":"notification"}"#.utf8), now: start)) == .unknownType)
        let big = #"{"type":"sendMessage","id":"big","data":"\#(String(repeating: "x", count: 100))"}"#
        let refused = listed.receive(text: Array(big.utf8), now: start)
        #expect(refused.first == .send(.error(code: .payloadTooLarge, message: "upstream messages are limited to 100 bytes", ref: .string("big"))))

        var open = session()
        for reserved in ReservedEventType.serverOnly + ReservedEventType.heraldPublished where !["typing.start", "typing.stop"].contains(reserved) {
            #expect(code(open.receive(text: Array(#"{"type":"\#(reserved)"}"#.utf8), now: start)) == .unknownType, "\(reserved)")
        }
        #expect(code(open.receive(text: Array(#"{"type":"x","data":1,"data":2}"#.utf8), now: start)) == .malformedMessage)
    }

    @Test("upstream messages count against flood control")
    func floodControl() {
        var session = session(rate: 1, burst: 2)
        var forwarded = 0
        var limited = 0
        var closed = false
        for _ in 0..<10 {
            let actions = session.receive(text: Array(#"{"type":"sendMessage"}"#.utf8), now: start)
            if case .upstream? = actions.first { forwarded += 1 }
            if code(actions) == .rateLimited { limited += 1 }
            if case .close(.policyViolation, _)? = actions.first { closed = true }
        }
        #expect(forwarded == 2)
        #expect(limited == 1)
        #expect(closed)
    }

    @Test("allow-list entries: exact types, and prefixes ending in *")
    func policy() {
        let policy = UpstreamPolicy(types: UpstreamPolicy.types(from: " sendMessage, inbox.* ,"))
        #expect(policy.types == ["sendMessage", "inbox.*"])
        #expect(policy.admits("sendMessage") && policy.admits("inbox.archive") && policy.admits("inbox."))
        #expect(!policy.admits("sendmessage") && !policy.admits("inbox") && !policy.admits("ack"))
        #expect(UpstreamPolicy.types(from: "") == nil)
        #expect(UpstreamPolicy().admits("anything") && !UpstreamPolicy().admits("presence.join"))
    }

    @Test("the upstream JSON body carries every field, data unchanged")
    func upstreamJSON() throws {
        let message = UpstreamMessage(
            account: "42", user: "al\"ice", connection: "n1-7", node: "n1", id: .string("r\u{1}"), type: "sendMessage",
            data: Array(#"{"text":"hi","n":1.50}"#.utf8), receivedAt: 1_732_500_000_000)
        let text = String(decoding: message.json(), as: UTF8.self)
        #expect(text == #"{"account":"42","user":"al\"ice","connection":"n1-7","node":"n1","id":"r\u0001","type":"sendMessage","data":{"text":"hi","n":1.50},"received_at":1732500000000}"#)
        _ = try JSONScanner().scan(message.json())
        var integer = message
        integer.id = .integer(-3)
        #expect(String(decoding: integer.json(), as: UTF8.self).contains(#""id":-3,"#))
    }

    @Test("a reply frame splices the backend's JSON as data")
    func replyFrame() throws {
        let frame = ServerMessage.reply(ref: .string("r1"), data: Array(#"{"ok":true,"n":1.50}"#.utf8)).encoded()
        // Key order of the envelope is not part of the protocol; `data` is the backend's bytes, last.
        let text = String(decoding: frame, as: UTF8.self)
        #expect(text.hasSuffix(#","data":{"ok":true,"n":1.50}}"#), "\(text)")
        #expect(text.contains(#""type":"reply""#) && text.contains(#""ref":"r1""#), "\(text)")
        #expect(String(decoding: ServerMessage.reply(ref: nil, data: Array("[1]".utf8)).encoded(), as: UTF8.self) == #"{"type":"reply","data":[1]}"#)
    }

    @Test("connection is a string target; anything else, or twice, drops the event")
    func connectionTarget() throws {
        func parse(_ text: String) throws(EventRouting.Rejection) -> EventRouting { try EventRouting.parse(Array(text.utf8)) }
        #expect(try parse(#"{"type":"reply","connection":"n1-7","ref":"r1"}"#) == EventRouting(connection: "n1-7", type: "reply"))
        for bad in ["7", "null", "true", "{}", "[]", "1.5"] {
            #expect(throws: EventRouting.Rejection.self) { try parse(#"{"type":"reply","connection":\#(bad)}"#) }
            #expect((try? parse(#"{"type":"reply","connection":\#(bad)}"#)) == nil)
        }
        do {
            _ = try parse(#"{"type":"reply","connection":"a","conn\u0065ction":"b"}"#)
            Issue.record("a duplicate connection was accepted")
        } catch {
            #expect(error.reason == .duplicateKey)
        }
        do {
            _ = try parse(#"{"type":"reply","connection":7}"#)
        } catch {
            #expect(error.reason == .invalidTarget)
        }
        let routing = EventRouting(user: "alice", connection: "n1-7")
        #expect(routing.selects(user: "alice", connection: "n1-7") { _ in true })
        #expect(!routing.selects(user: "alice", connection: "n1-70") { _ in true })
        #expect(!routing.selects(user: "bob", connection: "n1-7") { _ in true })
        #expect(!routing.selects(user: "alice") { _ in true })
    }

    @Test("the HTTP API carries connection and ref into the event")
    func publishRequestFields() throws {
        let request = try PublishRequest.parse(body: Array(#"{"account":"42","type":"reply","data":{"ok":1},"connection":"n1-7","ref":"r1"}"#.utf8))
        #expect(String(decoding: request.event, as: UTF8.self) == #"{"type":"reply","data":{"ok":1},"connection":"n1-7","ref":"r1"}"#)
        let integer = try PublishRequest.parse(body: Array(#"{"account":"42","type":"reply","connection":"n1-7","ref":12}"#.utf8))
        #expect(String(decoding: integer.event, as: UTF8.self) == #"{"type":"reply","data":null,"connection":"n1-7","ref":12}"#)
        for bad in [#""connection":7"#, #""connection":"""#, #""connection":null"#, #""ref":1.5"#, #""ref":{}"#, #""ref":"\#(String(repeating: "r", count: 129))""#] {
            #expect(throws: HTTPRefusal.self, "\(bad)") { try PublishRequest.parse(body: Array(#"{"account":"42","type":"reply",\#(bad)}"#.utf8)) }
        }
    }

    @Test("split upstream streams: one hash tag per stream, an account always on the same one")
    func streamKeys() {
        let single = UpstreamStreamKey()
        #expect(single.all == ["herald:upstream"] && single.key(for: "42") == "herald:upstream")
        let split = UpstreamStreamKey(base: "herald:upstream", shards: 4)
        #expect(split.all == (0..<4).map { "herald:upstream:{\($0)}" })
        #expect(split.key(for: "42") == split.key(for: "42"))
        #expect(split.all.contains(split.key(for: "42")))
        // FNV-1a 32 of "a" is 0xe40c292c; mod 4 = 0.
        #expect(split.key(for: "a") == "herald:upstream:{0}")
        #expect(Set((0..<200).map { split.key(for: "acct-\($0)") }).count == 4)
    }

    @Test("the signature header is HMAC-SHA256 of the body in hex")
    func signature() {
        // RFC 4231 test case 2.
        let header = UpstreamSignature(secret: "Jefe").header(for: Array("what do ya want for nothing?".utf8))
        #expect(header == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
