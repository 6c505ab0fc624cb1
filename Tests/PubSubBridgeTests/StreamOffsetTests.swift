import HeraldBroker
import HeraldProtocol
import NIOCore
@testable import RedisBackend
import Testing

@testable import PubSubBridge

@Suite("StreamOffset and the function library text")
struct StreamOffsetTests {
    @Test func parsesAndPrints() throws {
        let offset = try #require(StreamOffset("18c1f0a2b3:1732500000000-7"))
        #expect(offset == StreamOffset(epoch: "18c1f0a2b3", milliseconds: 1_732_500_000_000, sequence: 7))
        #expect(offset.description == "18c1f0a2b3:1732500000000-7")
        #expect(offset.streamID == "1732500000000-7")
        #expect(StreamOffset("e:0-0") == StreamOffset(epoch: "e", milliseconds: 0, sequence: 0))
        let extremes = "\(String(repeating: "z", count: 32)):18446744073709551615-18446744073709551615"
        #expect(StreamOffset(extremes)?.description == extremes)
    }

    @Test(arguments: [
        "", ":", "abc", "abc:", ":1-0", "abc:1", "abc:1-", "abc:-1", "abc:1--1", "abc:1-0-0", "abc:1-0:",
        "ABC:1-0", "aBc:1-0", "ab_c:1-0", "ab c:1-0", "abc:-1-0", "abc:+1-0", "abc:1-+0", "abc: 1-0", "abc:1-0 ",
        "abc:01-0", "abc:1-00", "abc:18446744073709551616-0", "abc:1-18446744073709551616", "abc:1.5-0", "abc:0x1-0",
        "abc:1:1-0", "\(String(repeating: "a", count: 33)):1-0", "é:1-0",
    ])
    func rejectsMalformed(_ text: String) {
        #expect(StreamOffset(text) == nil, "\(text) should not parse")
    }

    @Test func ordersByMillisecondsThenSequence() {
        let offsets = ["e:2-0", "e:1-5", "e:10-0", "e:1-10", "e:2-1", "e:0-0"].compactMap(StreamOffset.init)
        #expect(offsets.sorted().map(\.description) == ["e:0-0", "e:1-5", "e:1-10", "e:2-0", "e:2-1", "e:10-0"])
        #expect(StreamOffset("a:5-0")! < StreamOffset("b:6-0")!)
        #expect(StreamOffset("b:5-0")! > StreamOffset("a:4-9")!)
        let a = StreamOffset("a:5-0")!, b = StreamOffset("b:5-0")!
        #expect(a != b && (a < b) != (b < a), "the epoch breaks ties so the order agrees with ==")
    }

    @Test func libraryBakesInTheWindow() {
        let library = HeraldFunctionLibrary(window: HistoryWindow())
        #expect(library.version == "\(HeraldFunctionLibrary.revision);maxEvents=1000;maxAgeMs=600000")
        #expect(library.source.hasPrefix("#!lua name=herald\n"))
        #expect(library.source.contains("local MAX_EVENTS = 1000\n"))
        #expect(library.source.contains("local MAX_AGE_MS = 600000\n"))
        #expect(library.source.contains("local VERSION = '\(HeraldFunctionLibrary.revision);maxEvents=1000;maxAgeMs=600000'"))
        #expect(!library.source.contains("@"))
        let small = HeraldFunctionLibrary(window: HistoryWindow(maxEvents: 10, maxAge: .seconds(2)))
        #expect(small.version == "\(HeraldFunctionLibrary.revision);maxEvents=10;maxAgeMs=2000")
    }
}
