import HeraldProtocol
import NIOCore
import Testing

@testable import EdgeNode

@Suite("EventRouting fails closed; ids compare byte for byte")
struct EventRoutingTests {
    static func parse(_ text: String) throws(EventRouting.Rejection) -> EventRouting {
        try EventRouting.parse(Array(text.utf8))
    }

    static func reason(_ bytes: [UInt8]) -> EventRouting.DropReason? {
        do {
            _ = try EventRouting.parse(bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    static func reason(_ text: String) -> EventRouting.DropReason? { reason(Array(text.utf8)) }

    @Test func stringAndIntegerTargets() throws {
        #expect(try Self.parse(#"{"type":"x","user":"alice","channel":"inbox"}"#) == EventRouting(user: "alice", channel: "inbox", type: "x"))
        #expect(try Self.parse(#"{"type":"x","user":7}"#) == EventRouting(user: "7", type: "x"))
        #expect(try Self.parse(#"{"user":9007199254740993}"#).user == "9007199254740993")
        #expect(try Self.parse(#"{"user":123456789012345678901234567890}"#).user == "123456789012345678901234567890")
        #expect(try Self.parse(#"{"user":-0}"#).user == "-0")
        #expect(try Self.parse(#"{"user":"al\u0069ce"}"#).user == "alice")
        #expect(try Self.parse(#"{"channel":5,"exclude_user":-12}"#) == EventRouting(channel: "5", excludeUser: "-12"))
        #expect(try Self.parse(#"{"type":"x"}"#) == EventRouting(type: "x"))
        #expect(try Self.parse(#"{"offset":"e:1-0","type":"typing.start","exclude_user":"bob"}"#)
            == EventRouting(excludeUser: "bob", offset: "e:1-0", type: "typing.start"))
    }

    static let badTargets = ["null", "{}", #"{"id":"alice"}"#, "[]", #"["alice"]"#, "true", "false", "1.5", "1e3", "9007199254740993.0", "-0.0", "1E2"]

    @Test("a target that is not a string or an integer drops the event", arguments: badTargets)
    func badTargetsDrop(value: String) {
        for field in ["user", "channel", "exclude_user"] {
            #expect(Self.reason(#"{"type":"x","\#(field)":\#(value)}"#) == .invalidTarget, "\(field): \(value)")
        }
    }

    @Test func channelMustBeAChannelName() {
        #expect(Self.reason(#"{"channel":"é"}"#) == .invalidTarget)
        #expect(Self.reason(#"{"channel":"\u212A"}"#) == .invalidTarget)  // KELVIN SIGN, canonically equal to "K"
        #expect(Self.reason(#"{"channel":"has space"}"#) == .invalidTarget)
        #expect(Self.reason(#"{"channel":""}"#) == .invalidTarget)
    }

    @Test func duplicateRoutingKeysDrop() {
        for field in ["type", "user", "channel", "exclude_user", "offset"] {
            #expect(Self.reason(#"{"\#(field)":"a","data":1,"\#(field)":"b"}"#) == .duplicateKey, "\(field)")
        }
        #expect(Self.reason(#"{"offset":"e:1-0","type":"x","offset":"e:9-9"}"#) == .duplicateKey)
        #expect(Self.reason(#"{"user":"a","us\u0065r":"b"}"#) == .duplicateKey)
        #expect(Self.reason(#"{"type":"a","type":"connected"}"#) == .duplicateKey)
        // Keys Herald does not read may repeat: that is the publisher's business.
        #expect(Self.reason(#"{"type":"x","data":1,"data":2}"#) == nil)
    }

    @Test func reservedTypes() throws {
        for type in ReservedEventType.serverOnly {
            #expect(Self.reason(#"{"type":"\#(type)","data":{}}"#) == .reservedType, "\(type)")
        }
        #expect(Self.reason(#"{"type":"conn\u0065cted"}"#) == .reservedType)
        for type in ReservedEventType.heraldPublished {
            #expect(try Self.parse(#"{"type":"\#(type)","data":{}}"#).type == type)
        }
        // Look-alikes are other types, not the reserved ones.
        #expect(try Self.parse(#"{"type":"Connected"}"#).type == "Connected")
        // A missing or non-string type is delivered as today: clients dispatch on strings only.
        #expect(try Self.parse(#"{"data":1}"#).type == nil)
        #expect(try Self.parse(#"{"type":["connected"]}"#).type == nil)
    }

    @Test func invalidPayloads() {
        #expect(Self.reason("not json") == .invalidJSON)
        #expect(Self.reason(#"{"type":"x"} trailing"#) == .invalidJSON)
        #expect(Self.reason("[1]") == .notObject)
        #expect(Self.reason(#""text""#) == .notObject)
        #expect(Self.reason(Array(#"{"type":"x","data":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)) == .invalidUTF8)
        #expect(Self.reason(#"{"type":"x","data":"\uD800"}"#) == .invalidUTF8)
        #expect(EventRouting.decode(Array("not json".utf8)) == nil)
        #expect(EventRouting.decode(ByteBuffer(string: #"{"user":"a"}"#).readableBytesView)?.user == "a")
    }

    @Test func selectsByExactBytes() {
        let nfc = "\u{E9}"  // é
        let nfd = "e\u{301}"  // e + combining acute
        #expect(nfc == nfd)  // Swift's String equality: why routing does not use it
        let routing = EventRouting(user: RoutingKey(nfc))
        #expect(routing.selects(user: nfc) { _ in true })
        #expect(!routing.selects(user: nfd) { _ in true })
        #expect(!EventRouting(excludeUser: RoutingKey(nfd)).selects(user: nfd) { _ in true })
        #expect(EventRouting(excludeUser: RoutingKey(nfd)).selects(user: nfc) { _ in true })
        #expect(RoutingKey(nfc) != RoutingKey(nfd))
        #expect(Set([RoutingKey(nfc), RoutingKey(nfd), RoutingKey(nfc)]).count == 2)
        let both = EventRouting(channel: "inbox", excludeUser: "bob")
        #expect(both.selects(user: "alice") { $0 == "inbox" })
        #expect(!both.selects(user: "bob") { $0 == "inbox" })
        #expect(!both.selects(user: "alice") { _ in false })
    }

    @Test func logThrottleLetsOneLinePerIntervalThrough() {
        let throttle = LogThrottle<String>(interval: .seconds(10))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(throttle.admit("a", now: start) == 0)
        #expect(throttle.admit("a", now: start + .seconds(1)) == nil)
        #expect(throttle.admit("b", now: start + .seconds(1)) == 0)
        #expect(throttle.admit("a", now: start + .seconds(9)) == nil)
        #expect(throttle.admit("a", now: start + .seconds(10)) == 2)
        #expect(throttle.admit("a", now: start + .seconds(11)) == nil)
    }
}
