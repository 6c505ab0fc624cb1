import Foundation
import HeraldProtocol
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Presence
import Testing

@Suite("Wire format and small values")
struct WireFormatTests {
    @Test("pre-framed text frames equal what NIO's encoder writes", arguments: [0, 1, 125, 126, 65535, 65536, 200_000])
    func framing(length: Int) throws {
        let payload = ByteBuffer(repeating: UInt8(ascii: "a"), count: length)
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.writeOutbound(WebSocketFrame(fin: true, opcode: .text, data: payload))
        var expected = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { expected.writeBuffer(&part) }
        #expect(WebSocketTextFrame.encode(payload, allocator: ByteBufferAllocator()) == expected)
        _ = try channel.finish()
    }

    @Test func routing() {
        #expect(EventRouting.decode(Array(#"{"type":"x","user":"alice","channel":"inbox"}"#.utf8)) == EventRouting(user: "alice", channel: "inbox", type: "x"))
        #expect(EventRouting.decode(Array(#"{"type":"x","user":7}"#.utf8)) == EventRouting(user: "7", type: "x"))
        #expect(EventRouting.decode(Array(#"{"type":"x"}"#.utf8)) == EventRouting(type: "x"))
        #expect(EventRouting.decode(Array(#"{"offset":"e:1-0","type":"typing.start","exclude_user":"bob"}"#.utf8))
            == EventRouting(excludeUser: "bob", offset: "e:1-0", type: "typing.start"))
        let routing = EventRouting(channel: "inbox", excludeUser: "bob")
        #expect(routing.selects(user: "alice") { $0 == "inbox" })
        #expect(!routing.selects(user: "bob") { $0 == "inbox" })
        #expect(!routing.selects(user: "alice") { _ in false })
        #expect(EventRouting.decode(Array("not json".utf8)) == nil)
        #expect(EventRouting.decode(Array("[1]".utf8)) == nil)
    }

    @Test func names() {
        #expect(AccountName.isValid("42"))
        #expect(AccountName.isValid("acme-corp.eu_1"))
        #expect(AccountName.isValid("a:b"))
        for bad in ["", "a{b}", "a b", "ä", String(repeating: "a", count: 129)] {
            #expect(!AccountName.isValid(bad), "\(bad)")
        }
        #expect(ChannelName.isValid("inbox:team-1"))
        #expect(!ChannelName.isValid("has space"))
    }

    @Test func serverMessages() throws {
        func object(_ message: ServerMessage) throws -> NSDictionary {
            try #require(JSONSerialization.jsonObject(with: Data(message.encoded())) as? NSDictionary)
        }
        #expect(try object(.error(code: .unknownType, message: "no", ref: .integer(3)))
            == ["type": "error", "code": "unknown_type", "message": "no", "ref": 3] as NSDictionary)
        #expect(try object(.connected(connectionID: "n-1", node: "n", account: "42", user: "u", heartbeat: 30, offset: "e:1-0"))
            == ["type": "connected", "connection_id": "n-1", "node": "n", "account": "42", "user": "u", "heartbeat": 30, "offset": "e:1-0"] as NSDictionary)
        #expect(try object(.pong(ref: nil)) == ["type": "pong"] as NSDictionary)
        #expect(try object(.recovery(recovered: false, count: 0, reason: "out_of_window"))
            == ["type": "recovery", "recovered": false, "count": 0, "reason": "out_of_window"] as NSDictionary)
        #expect(try object(.recovery(recovered: false, count: 0, reason: "out_of_window"))
            == ["type": "recovery", "recovered": false, "count": 0, "reason": "out_of_window"] as NSDictionary)
    }

    @Test func presenceRoster() {
        var roster = PresenceRoster()
        #expect(roster.connect(user: "alice", connection: "c1") == .joined(user: "alice"))
        #expect(roster.connect(user: "alice", connection: "c2") == nil)
        #expect(roster.users == ["alice": 2])
        #expect(roster.disconnect(user: "alice", connection: "c1") == nil)
        #expect(roster.disconnect(user: "alice", connection: "c1") == nil)
        #expect(roster.disconnect(user: "alice", connection: "c2") == .left(user: "alice"))
        #expect(roster.users.isEmpty)
    }
}
