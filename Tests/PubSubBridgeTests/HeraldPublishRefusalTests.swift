import HeraldBroker
import HeraldProtocol
import NIOCore
@testable import RedisBackend
import Testing

@testable import PubSubBridge

/// `herald_publish` refuses poison events — not JSON, invalid UTF-8, a publisher's `offset`, a server-reserved
/// `type`, an unmatchable target — with `ERR herald: ...`, storing and publishing nothing; valid events still pass.
@Suite("herald_publish refusals against redis-server", .serialized, .timeLimit(.minutes(1)))
struct HeraldPublishRefusalTests {
    /// A bad event and the start of the error message it must get.
    struct Refusal: Sendable, CustomStringConvertible {
        var event: [UInt8]
        var message: String

        init(_ event: String, _ message: String) {
            self.event = Array(event.utf8)
            self.message = message
        }

        init(bytes: [UInt8], _ message: String) {
            self.event = bytes
            self.message = message
        }

        var description: String { String(decoding: self.event, as: UTF8.self) }
    }

    /// `{"type":"m","text":"<bytes>"}`.
    static func text(_ bytes: [UInt8]) -> [UInt8] {
        Array(#"{"type":"m","text":""#.utf8) + bytes + Array(#""}"#.utf8)
    }

    static let invalidUTF8 = "ERR herald: event is not valid UTF-8"
    static let notJSON = "ERR herald: event is not valid JSON"

    static let refusals: [Refusal] = [
        // Item 4: not JSON, or not UTF-8.
        Refusal(#"{"type":"m",}"#, notJSON),
        Refusal(#"{"type":"m"} trailing"#, notJSON),
        Refusal(#"{"type":"m","text":"unterminated}"#, notJSON),
        Refusal(#"{"type":"m","text":"\ud800"}"#, notJSON),
        Refusal(#"[{"type":"m"}]"#, "ERR herald: event must be a JSON object"),
        Refusal(bytes: text([0xC3, 0x28]), invalidUTF8),  // a lead byte without its continuation
        Refusal(bytes: text([0x80]), invalidUTF8),  // a stray continuation byte
        Refusal(bytes: text([0xC0, 0xAF]), invalidUTF8),  // overlong '/'
        Refusal(bytes: text([0xE0, 0x80, 0xAF]), invalidUTF8),  // overlong '/', three bytes
        Refusal(bytes: text([0xF0, 0x80, 0x80, 0xAF]), invalidUTF8),  // overlong '/', four bytes
        Refusal(bytes: text([0xED, 0xA0, 0x80]), invalidUTF8),  // U+D800, a surrogate
        Refusal(bytes: text([0xED, 0xBF, 0xBF]), invalidUTF8),  // U+DFFF
        Refusal(bytes: text([0xF4, 0x90, 0x80, 0x80]), invalidUTF8),  // U+110000
        Refusal(bytes: text([0xF5, 0x80, 0x80, 0x80]), invalidUTF8),
        Refusal(bytes: text([0xFF]), invalidUTF8),
        Refusal(bytes: text([0xE2, 0x82]), invalidUTF8),  // truncated euro sign
        Refusal(bytes: Array(#"{"type":"m","t":"x"}"#.utf8) + [0xE2, 0x82], invalidUTF8),  // truncated at the very end
        Refusal(bytes: Array(#"{"ty"#.utf8) + [0xFE] + Array(#"pe":"m"}"#.utf8), invalidUTF8),  // in a key
        // Item 5: a publisher's offset, however spelled.
        Refusal(#"{"type":"m","offset":"0:1-0"}"#, "ERR herald: event must not carry a top-level 'offset'"),
        Refusal(#"{"offset":null,"type":"m"}"#, "ERR herald: event must not carry a top-level 'offset'"),
        Refusal(#"{"type":"m","\u006fffset":1}"#, "ERR herald: event must not carry a top-level 'offset'"),
        // Item 6: the server's own types.
        Refusal(#"{"type":"connected","connection_id":"x"}"#, "ERR herald: type 'connected' is reserved"),
        Refusal(#"{"type":"recovery","recovered":true,"count":0}"#, "ERR herald: type 'recovery' is reserved"),
        Refusal(#"{"type":"pong"}"#, "ERR herald: type 'pong' is reserved"),
        Refusal(#"{"type":"error","code":"x"}"#, "ERR herald: type 'error' is reserved"),
        Refusal(#"{"type":"ack","ref":1}"#, "ERR herald: type 'ack' is reserved"),
        Refusal(#"{"type":"presence.state","users":[]}"#, "ERR herald: type 'presence.state' is reserved"),
        Refusal(#"{"type":"refreshed","exp":1}"#, "ERR herald: type 'refreshed' is reserved"),
        Refusal(#"{"type":"presence.join","data":{"user":"x"}}"#, "ERR herald: type 'presence.join' is reserved"),
        Refusal(#"{"type":"presence.leave","data":{"user":"x"}}"#, "ERR herald: type 'presence.leave' is reserved"),
        Refusal(#"{"type":"typing.start","data":{}}"#, "ERR herald: type 'typing.start' is reserved"),
        Refusal(#"{"type":"typing.stop","data":{}}"#, "ERR herald: type 'typing.stop' is reserved"),
        Refusal(#"{"type":"message.new","type":"connected"}"#, "ERR herald: type 'connected' is reserved"),  // the last key wins in browsers
        // Targets that can never be matched.
        Refusal(#"{"type":"m","user":null}"#, "ERR herald: 'user' must be a string or a number"),
        Refusal(#"{"type":"m","user":true}"#, "ERR herald: 'user' must be a string or a number"),
        Refusal(#"{"type":"m","user":["a"]}"#, "ERR herald: 'user' must be a string or a number"),
        Refusal(#"{"type":"m","user":{"id":"a"}}"#, "ERR herald: 'user' must be a string or a number"),
        Refusal(#"{"type":"m","channel":false}"#, "ERR herald: 'channel' must be a string or a number"),
        Refusal(#"{"type":"m","channel":null}"#, "ERR herald: 'channel' must be a string or a number"),
        Refusal(#"{"type":"m","exclude_user":[]}"#, "ERR herald: 'exclude_user' must be a string or a number"),
        Refusal(#"{"type":"m","exclude_user":{}}"#, "ERR herald: 'exclude_user' must be a string or a number"),
    ]

    @Test func badEventsAreRefusedAndLeaveNoTrace() async throws {
        let fixture = try await HistoryFixture.start()
        try await fixture.subscribe("herald:{1}")
        var published = [try await fixture.publish("herald:{1}", #"{"type":"first"}"#)]
        for refusal in Self.refusals {
            await #expect("\(refusal)") {
                try await fixture.history.publish(channel: "herald:{1}", event: ByteBuffer(bytes: refusal.event)).get(within: .seconds(5))
            } throws: { error in
                let message = (error as? RedisError)?.serverMessage ?? "\(error)"
                return message.hasPrefix(refusal.message)
            }
            // A backend's plain FCALL gets the same answer.
            let raw = try await fixture.client.send(
                [ByteBuffer(string: "FCALL"), ByteBuffer(string: "herald_publish"), ByteBuffer(string: "1"),
                 ByteBuffer(string: "herald:{1}"), ByteBuffer(bytes: refusal.event)]
            ).map { "accepted: \($0)" }.recover { "\($0)" }.get(within: .seconds(5))
            #expect(raw.contains(refusal.message), "\(refusal): \(raw)")
            published.append(try await fixture.publish("herald:{1}", #"{"type":"sentinel"}"#))
        }
        // Only the sentinels were stored and published.
        #expect(try await fixture.command("XLEN", "herald:{1}:log") == .integer(Int64(published.count)))
        try await waitUntil("the sentinel events arrive") { fixture.messages.count >= published.count }
        try await Task.sleep(for: .milliseconds(100))
        #expect(fixture.messages.count == published.count)
        #expect(fixture.messages.values.map { String(buffer: $0.payload) }.allSatisfy { $0.hasSuffix(#""type":"first"}"#) || $0.hasSuffix(#""type":"sentinel"}"#) })
        try await fixture.shutdown()
    }

    @Test func validEventsStillPass() async throws {
        let fixture = try await HistoryFixture.start()
        try await fixture.subscribe("herald:{2}")
        let events: [[UInt8]] = [
            Array(#"{"type":"message.new","data":{"id":1}}"#.utf8),
            Array(#"{"type":"m","user":"alice","channel":"inbox","exclude_user":"bob"}"#.utf8),
            Array(#"{"type":"m","user":12345678901234567890,"channel":7,"exclude_user":-1.5}"#.utf8),
            Array(#"{"type":"m","data":{"offset":"nested offsets are the publisher's own"}}"#.utf8),
            Array(#"{"type":"m","data":{"type":"connected"}}"#.utf8),  // only the top-level type is reserved
            Array(#"{"type":"presence.joined"}"#.utf8),
            Array(#"{"data":1}"#.utf8),
            Array(#"{"type":"m","text":"\u00e9 \ud83d\ude00 escaped"}"#.utf8),
            Self.text([0xC3, 0xA9, 0x20, 0xE2, 0x82, 0xAC, 0x20, 0xED, 0x9F, 0xBF, 0x20, 0xEE, 0x80, 0x80]),  // é € U+D7FF U+E000
            Self.text([0xF0, 0x90, 0x80, 0x80, 0x20, 0xF0, 0x9F, 0x98, 0x80, 0x20, 0xF4, 0x8F, 0xBF, 0xBF]),  // U+10000 😀 U+10FFFF
            Array("{\"type\":\"привет\",\"text\":\"日本語のテキスト\"}".utf8),
            Array("  {}".utf8),
        ]
        var offsets: [StreamOffset] = []
        for event in events {
            offsets.append(try await fixture.history.publish(channel: "herald:{2}", event: ByteBuffer(bytes: event)).get(within: .seconds(5)))
        }
        #expect(offsets == offsets.sorted())
        try await waitUntil("every event arrives") { fixture.messages.count == events.count }
        #expect(try await fixture.command("XLEN", "herald:{2}:log") == .integer(Int64(events.count)))
        // Stored and published byte for byte, with the offset spliced in first.
        for (index, message) in fixture.messages.values.enumerated() {
            let published = Array(message.payload.readableBytesView)
            let prefix = Array(#"{"offset":"\#(offsets[index])""#.utf8)
            #expect(Array(published.prefix(prefix.count)) == prefix)
            let original = events[index]
            let body = Array(original.drop { $0 == UInt8(ascii: " ") }.dropFirst())
            #expect(published.suffix(body.count).elementsEqual(body))
        }
        try await fixture.shutdown()
    }

    @Test func anOlderLibraryIsReplacedByThisRevision() async throws {
        let fixture = try await HistoryFixture.start()
        #expect(HeraldFunctionLibrary.revision >= 2)
        // What a node of the previous revision left in Redis: same name, older version, no validation.
        let older = """
            #!lua name=herald
            redis.register_function{
                function_name = 'herald_version', flags = {'no-writes'},
                callback = function() return '1;maxEvents=1000;maxAgeMs=600000' end,
            }
            redis.register_function('herald_publish', function(keys, args) return 'unchecked' end)
            """
        _ = try await fixture.command("FUNCTION", "LOAD", "REPLACE", older)
        try await fixture.history.installFunctions().get(within: .seconds(5))
        #expect(try await fixture.command("FCALL_RO", "herald_version", "0").string?.hasPrefix("\(HeraldFunctionLibrary.revision);") == true)
        await #expect {
            try await fixture.publish("herald:{3}", #"{"type":"connected"}"#)
        } throws: { error in
            (error as? RedisError)?.serverMessage?.hasPrefix("ERR herald: type 'connected' is reserved") == true
        }
        try await fixture.shutdown()
    }
}
