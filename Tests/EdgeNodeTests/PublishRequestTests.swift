import HeraldProtocol
import Testing

@testable import EdgeNode

@Suite("PublishRequest: validated once, event spliced from the publisher's bytes")
struct PublishRequestTests {
    static func event(_ body: String) throws(HTTPRefusal) -> String {
        String(decoding: try PublishRequest.parse(body: Array(body.utf8)).event, as: UTF8.self)
    }

    static func refusal(_ body: [UInt8]) -> String? {
        do {
            _ = try PublishRequest.parse(body: body)
            return nil
        } catch {
            #expect(error.status == .badRequest)
            return error.message
        }
    }

    static func refusal(_ body: String) -> String? { refusal(Array(body.utf8)) }

    @Test func dataIsSplicedByteForByte() throws {
        #expect(try Self.event(#"{"account":"42","type":"x","data":{"b":1,"a":1.50,"c":1e2}}"#)
            == #"{"type":"x","data":{"b":1,"a":1.50,"c":1e2}}"#)
        #expect(try Self.event(#"{"data" : [ 1.0, "\u00e9", {"z":null,"y":-0} ] , "type":"x","account":"42"}"#)
            == #"{"type":"x","data":[ 1.0, "\u00e9", {"z":null,"y":-0} ]}"#)
        #expect(try Self.event(#"{"account":"42","type":"x"}"#) == #"{"type":"x","data":null}"#)
        #expect(try Self.event(#"{"account":"42","type":"x","data":"é","user":"alice","channel":"inbox","extra":1}"#)
            == #"{"type":"x","data":"é","user":"alice","channel":"inbox"}"#)
    }

    @Test func integerUsersKeepTheirExactText() throws {
        let body = #"{"account":"42","type":"x","user":9007199254740993}"#
        #expect(try Self.event(body) == #"{"type":"x","data":null,"user":9007199254740993}"#)
        let event = try PublishRequest.parse(body: Array(body.utf8)).event
        #expect(EventRouting.decode(event)?.user == "9007199254740993")
    }

    @Test func historyFlag() throws {
        #expect(try PublishRequest.parse(body: Array(#"{"account":"42","type":"x"}"#.utf8)).history)
        #expect(try !PublishRequest.parse(body: Array(#"{"account":"42","type":"x","history":false}"#.utf8)).history)
        #expect(Self.refusal(#"{"account":"42","type":"x","history":"no"}"#)?.contains("'history'") == true)
    }

    @Test("refuses every reserved type", arguments: ReservedEventType.serverOnly + ReservedEventType.heraldPublished)
    func reservedTypes(type: String) {
        #expect(Self.refusal(#"{"account":"42","type":"\#(type)"}"#)?.contains("reserved") == true)
    }

    @Test func refusals() {
        #expect(Self.refusal(#"{"account":"42","type":"conn\u0065cted"}"#)?.contains("reserved") == true)
        for user in ["null", "1.5", "1e3", "true", "{}", "[]", #""""#] {
            #expect(Self.refusal(#"{"account":"42","type":"x","user":\#(user)}"#)?.contains("'user'") == true, "\(user)")
        }
        #expect(Self.refusal(#"{"account":"42","type":"x","channel":5}"#)?.contains("'channel'") == true)
        #expect(Self.refusal(#"{"account":42,"type":"x"}"#)?.contains("'account'") == true)
        #expect(Self.refusal(#"{"account":"42","type":"x","type":"y"}"#)?.contains("more than once") == true)
        #expect(Self.refusal(#"{"account":"42","type":"x","data":1,"data":2}"#)?.contains("more than once") == true)
        #expect(Self.refusal(#"{"account":"42","type":"x""#)?.contains("not valid JSON") == true)
        #expect(Self.refusal(#"[{"account":"42","type":"x"}]"#)?.contains("JSON object") == true)
        let invalidUTF8 = Array(#"{"account":"42","type":"x","data":{"s":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}}"#.utf8)
        #expect(Self.refusal(invalidUTF8)?.contains("invalid UTF-8") == true)
        #expect(Self.refusal(#"{"account":"42","type":"x","data":"\udc00"}"#)?.contains("surrogate") == true)
    }

    @Test func batches() throws {
        let body = #"{"events":[{"account":"42","type":"a","data":{"n":1.10}}, {"account":"43","type":"b","user":12}]}"#
        let requests = try PublishRequest.parseBatch(body: Array(body.utf8), maximumCount: 10)
        #expect(requests.map(\.account) == ["42", "43"])
        #expect(requests.map { String(decoding: $0.event, as: UTF8.self) }
            == [#"{"type":"a","data":{"n":1.10}}"#, #"{"type":"b","data":null,"user":12}"#])
        func refusal(_ body: String) -> String? {
            do {
                _ = try PublishRequest.parseBatch(body: Array(body.utf8), maximumCount: 2)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(refusal(#"{"events":[{"account":"42","type":"a"},{"account":"42","type":"pong"}]}"#)?.hasPrefix("events[1]:") == true)
        #expect(refusal(#"{"events":[]}"#) != nil)
        #expect(refusal(#"{"events":[{"account":"42","type":"a"},{"account":"42","type":"a"},{"account":"42","type":"a"}]}"#) != nil)
        #expect(refusal(#"{"events":[{"account":"42","type":"a"}],"events":[]}"#) != nil)
        #expect(refusal(#"{"events":{}}"#) != nil)
    }
}
