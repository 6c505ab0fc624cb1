import HeraldProtocol
import NIOCore
import Testing

@testable import EdgeNode

/// Engine.IO and Socket.IO packets in and out, without a socket.
@Suite("Socket.IO and Engine.IO codecs")
struct SocketIOCodecTests {
    private func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test("Engine.IO packets parse by their type digit; a polling body splits on 0x1E")
    func engineIOPackets() throws {
        #expect(EngineIOPacket(Array("2probe".utf8)) == .ping(Array("probe".utf8)))
        #expect(EngineIOPacket(Array("3".utf8)) == .pong([]))
        #expect(EngineIOPacket(Array("40{}".utf8)) == .message(Array("0{}".utf8)))
        #expect(EngineIOPacket(Array("5".utf8)) == .upgrade)
        #expect(EngineIOPacket(Array("bAQID".utf8)) == nil)  // a base64 binary packet
        #expect(EngineIOPacket([UInt8]()) == nil)
        let body = Array("40{\"token\":\"t\"}".utf8) + [0x1E] + Array("3".utf8)
        #expect(EngineIOPacket.split(body, maxPackets: 16) == [.message(Array("0{\"token\":\"t\"}".utf8)), .pong([])])
        #expect(EngineIOPacket.split(Array(repeating: UInt8(ascii: "6"), count: 1) + [0x1E, UInt8(ascii: "6"), 0x1E, UInt8(ascii: "6")], maxPackets: 2) == nil)
        #expect(String(decoding: EngineIOPacket.close.encoded, as: UTF8.self) == "1")
    }

    @Test("Socket.IO packets: namespace, ack id, data")
    func socketIOPackets() throws {
        let connect = try #require(SocketIOPacket(Array(#"0{"token":"jwt","offset":"e:1-0","pid":"p","channels":["a","b"]}"#.utf8)))
        #expect(connect.kind == .connect && connect.namespace == "/" && connect.ackID == nil)
        #expect(connect.authentication() == .init(token: "jwt", since: "e:1-0", channels: ["a", "b"], pid: "p"))
        #expect(SocketIOPacket(Array("0".utf8))?.authentication() == .init())
        #expect(SocketIOPacket(Array(#"0{"since":"e:2-0","channels":"a,b"}"#.utf8))?.authentication() == .init(since: "e:2-0", channels: ["a", "b"]))
        #expect(SocketIOPacket(Array("0[1]".utf8))?.authentication() == nil)
        let admin = try #require(SocketIOPacket(Array("0/admin,{}".utf8)))
        #expect(admin.namespace == "/admin")
        let event = try #require(SocketIOPacket(Array(#"212["subscribe","sales"]"#.utf8)))
        #expect(event.kind == .event && event.ackID == 12)
        #expect(SocketIOPacket(Array(#"51-["x",{"_placeholder":true,"num":0}]"#.utf8))?.kind == .binaryEvent)
        #expect(SocketIOPacket(Array("9".utf8)) == nil)
        #expect(SocketIOPacket(Array(("2" + String(repeating: "9", count: 16) + "[]").utf8)) == nil)
    }

    @Test("emits become the client messages the session reads", arguments: [
        (#"23["subscribe","sales"]"#, #"{"type":"subscribe","id":3,"channel":"sales"}"#),
        (#"2["subscribe",{"channel":"sales","since":"e:1-0"}]"#, #"{"type":"subscribe","data":{"channel":"sales","since":"e:1-0"},"channel":"sales","since":"e:1-0"}"#),
        (#"24["unsubscribe","sales"]"#, #"{"type":"unsubscribe","id":4,"channel":"sales"}"#),
        (#"25["report.export",{"format":"csv"}]"#, #"{"type":"report.export","id":5,"data":{"format":"csv"}}"#),
        (#"2["typing.start",{"conversation_id":"c1"}]"#, #"{"type":"typing.start","data":{"conversation_id":"c1"},"conversation_id":"c1"}"#),
        (#"26["ping"]"#, #"{"type":"ping","id":6}"#),
        (#"2["chat",[1,2],"ignored"]"#, #"{"type":"chat","data":[1,2]}"#),
    ])
    func clientMessages(packet: String, message: String) throws {
        let parsed = try #require(SocketIOPacket(Array(packet.utf8)))
        #expect(parsed.clientMessage().map { String(decoding: $0, as: UTF8.self) } == message)
    }

    @Test("an emit whose data is not an array with a name is no message")
    func malformedEmits() {
        for packet in [#"2{"a":1}"#, #"2[1,2]"#, "2", #"2["x""#] {
            #expect(SocketIOPacket(Array(packet.utf8))?.clientMessage() == nil, "\(packet)")
        }
    }

    @Test("events: named by type, data as argument, offset last")
    func events() {
        let allocator = ByteBufferAllocator()
        func encode(_ json: String, offset: String?) -> String {
            text(SocketIOPacketEncoder.event(ByteBuffer(string: json), offset: offset, allocator: allocator))
        }
        #expect(encode(#"{"offset":"e:1-0","type":"kpi:update","data":{"v":1}}"#, offset: "e:1-0") == #"42["kpi:update",{"v":1},"e:1-0"]"#)
        #expect(encode(#"{"type":"notification","data":{"t":"hi"},"user":"alice"}"#, offset: nil) == #"42["notification",{"t":"hi"}]"#)
        // A string argument without an offset is followed by null, so it is never taken for one.
        #expect(encode(#"{"type":"note","data":"e:9-9"}"#, offset: nil) == #"42["note","e:9-9",null]"#)
        // No data: the whole event is the argument; no string type: "message".
        #expect(encode(#"{"type":"x","id":1}"#, offset: nil) == #"42["x",{"type":"x","id":1}]"#)
        #expect(encode(#"{"data":1}"#, offset: nil) == #"42["message",1]"#)
        #expect(encode(#"{"type":"caf\u00e9","data":1}"#, offset: nil) == #"42["caf\u00e9",1]"#)
    }

    @Test("server messages: acks answer an emit's ack id, the rest are events")
    func messages() {
        let allocator = ByteBufferAllocator()
        let ack = text(SocketIOPacketEncoder.message(.ack(ref: .integer(3)), allocator: allocator))
        #expect(ack == #"433[{"type":"ack","ref":3}]"# || ack == #"433[{"ref":3,"type":"ack"}]"#)
        let error = text(SocketIOPacketEncoder.message(.error(code: .unknownType, message: "m", ref: nil), allocator: allocator))
        #expect(error.hasPrefix(#"42["error",{"#) && error.contains(#""code":"unknown_type""#))
        let connected = text(SocketIOPacketEncoder.message(
            .connected(connectionID: "n-1", node: "n", account: "a", user: "u", heartbeat: 30, offset: "e:1-0"), allocator: allocator))
        #expect(connected.hasPrefix(#"42["connected",{"#) && connected.hasSuffix(#"},"e:1-0"]"#))
        #expect(String(decoding: SocketIOPacketEncoder.connected(socketID: "n-1", pid: "p"), as: UTF8.self) == #"40{"sid":"n-1","pid":"p"}"#)
        #expect(String(decoding: SocketIOPacketEncoder.connectError(code: .unauthorized, message: "no \"token\""), as: UTF8.self)
            == #"44{"message":"no \"token\"","data":{"error":"unauthorized"}}"#)
    }

    @Test("polling clients get the WebSocket frame's packet, without the header", arguments: [10, 200, 70_000])
    func framePacket(length: Int) {
        let packet = ByteBuffer(string: "42[\"x\",\"" + String(repeating: "a", count: length) + "\"]")
        let frame = WebSocketTextFrame.encode(packet, allocator: ByteBufferAllocator())
        #expect(SocketIOFrame.packet(in: frame) == packet)
    }

    @Test("the polling queue hands out bounded batches in order")
    func pollingQueue() {
        var queue = EngineIOPollingQueue(maxPacketsPerPoll: 16, maxBatchBytes: 100)
        for number in 0..<20 { queue.append(ByteBuffer(string: "4\(number)")) }
        #expect(queue.count == 20)
        let first = queue.takeBatch().split(separator: 0x1E).map { String(decoding: $0, as: UTF8.self) }
        #expect(first == (0..<16).map { "4\($0)" })
        #expect(queue.takeBatch().split(separator: 0x1E).count == 4)
        #expect(queue.isEmpty && queue.bytes == 0 && queue.takeBatch().isEmpty)
        queue.append(ByteBuffer(string: String(repeating: "x", count: 80)))
        queue.append(ByteBuffer(string: String(repeating: "y", count: 80)))
        #expect(queue.takeBatch().count == 80)  // the second would pass the batch size
        queue.append(ByteBuffer(string: String(repeating: "z", count: 300)))
        #expect(queue.takeAll().map(\.readableBytes) == [80, 300])
    }

    @Test("session ids are unguessable and distinct")
    func sessionIDs() {
        let ids = Set((0..<1000).map { _ in SocketIOSessions.newSID() })
        #expect(ids.count == 1000)
        #expect(ids.allSatisfy { $0.utf8.count == 22 })
    }
}
