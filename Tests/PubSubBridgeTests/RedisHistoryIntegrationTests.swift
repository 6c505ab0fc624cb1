import HeraldBroker
import HeraldProtocol
import HeraldTestSupport
import Logging
import NIOCore
import NIOPosix
@testable import RedisBackend
import Testing

@testable import PubSubBridge

/// A redis-server with a command client, a subscriber recording what it receives, and a ``RedisHistory``.
final class HistoryFixture: Sendable {
    struct Message: Sendable, Equatable {
        var channel: String
        var payload: ByteBuffer
    }

    let server: RedisServerProcess
    let client: RedisCommandClient
    let subscriber: RedisSubscriber
    let history: RedisHistory
    let messages = Recorder<Message>()

    private init(server: RedisServerProcess, eventLoop: EventLoop, window: HistoryWindow, record: Bool) throws {
        self.server = server
        let configuration = try testConfiguration(server)
        let messages = self.messages
        self.client = RedisCommandClient(configuration: configuration, eventLoop: eventLoop, logger: testLogger)
        self.subscriber = RedisSubscriber(
            configuration: configuration,
            eventLoop: eventLoop,
            logger: testLogger,
            onMessage: { channel, payload in
                messages.append(Message(channel: channel, payload: record ? payload : ByteBuffer()))
            }
        )
        self.history = RedisHistory(client: self.client, window: window, logger: testLogger)
        self.client.start()
        self.subscriber.start()
    }

    /// Starts a server (with `serverArguments`), connects, and installs the functions for `window`.
    static func start(
        window: HistoryWindow = HistoryWindow(),
        serverArguments: [String] = [],
        recordPayloads: Bool = true
    ) async throws -> HistoryFixture {
        let server = try await RedisServerProcess.start(extraArguments: serverArguments)
        let fixture = try HistoryFixture(
            server: server, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), window: window, record: recordPayloads
        )
        try await waitUntil("client and subscriber connect") { fixture.client.isConnected && fixture.subscriber.isConnected }
        try await fixture.history.installFunctions().get(within: .seconds(5))
        return fixture
    }

    func subscribe(_ channel: String) async throws {
        self.subscriber.retain(channel: channel)
        try await waitUntil("\(channel) is subscribed") { self.subscriber.subscribedChannels.contains(channel) }
    }

    func command(_ arguments: String...) async throws -> RESPValue {
        try await self.client.send(arguments.map { ByteBuffer(string: $0) }).get(within: .seconds(5))
    }

    func publish(_ channel: String, _ event: String) async throws -> StreamOffset {
        try await self.history.publish(channel: channel, event: ByteBuffer(string: event)).get(within: .seconds(5))
    }

    func read(_ channel: String, after offset: StreamOffset, limit: Int = 100) async throws -> HistoryPage {
        try await self.history.read(channel: channel, after: offset, limit: limit).get(within: .seconds(5))
    }

    /// The `e` field of every entry of `log`, by entry id.
    func storedEvents(_ log: String) async throws -> [(id: String, event: ByteBuffer)] {
        let reply = try await self.command("XRANGE", log, "-", "+")
        return try (reply.array ?? []).map { entry in
            let parts = try #require(entry.array)
            let fields = try #require(parts[1].array)
            #expect(fields.count == 2 && fields[0].string == "e")
            return (try #require(parts[0].string), try #require(fields[1].bytes))
        }
    }

    /// `INFO <section>` as a dictionary of its `name:value` lines.
    func info(_ section: String) async throws -> [String: String] {
        let text = try #require(try await self.command("INFO", section).string)
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }

    /// One command's `INFO commandstats` figures, e.g. `calls` and `usec_per_call`; empty if never called.
    func commandStats(_ command: String) async throws -> [String: Double] {
        guard let line = try await self.info("commandstats")["cmdstat_\(command)"] else { return [:] }
        var figures: [String: Double] = [:]
        for pair in line.split(separator: ",") {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = Double(parts[1]) {
                figures[String(parts[0])] = value
            }
        }
        return figures
    }

    func shutdown() async throws {
        try await self.subscriber.shutdown().get(within: .seconds(5))
        try await self.client.shutdown().get(within: .seconds(5))
        self.server.stop()
    }
}

@Suite("RedisHistory against redis-server", .serialized, .timeLimit(.minutes(1)))
struct RedisHistoryIntegrationTests {
    @Test func installIsIdempotentAndADifferentWindowReloads() async throws {
        let fixture = try await HistoryFixture.start()
        _ = try await fixture.command("CONFIG", "RESETSTAT")
        try await fixture.history.installFunctions().get(within: .seconds(5))
        try await fixture.history.installFunctions().get(within: .seconds(5))
        #expect(try await fixture.commandStats("function|load")["calls"] == nil, "an installed library is not reloaded")
        #expect(try await fixture.command("FCALL_RO", "herald_version", "0").string == "\(HeraldFunctionLibrary.revision);maxEvents=1000;maxAgeMs=600000")

        let other = RedisHistory(client: fixture.client, window: HistoryWindow(maxEvents: 5, maxAge: .seconds(30)), logger: testLogger)
        try await other.installFunctions().get(within: .seconds(5))
        #expect(try await fixture.commandStats("function|load")["calls"] == 1)
        #expect(try await fixture.command("FCALL_RO", "herald_version", "0").string == "\(HeraldFunctionLibrary.revision);maxEvents=5;maxAgeMs=30000")
        try await other.installFunctions().get(within: .seconds(5))
        #expect(try await fixture.commandStats("function|load")["calls"] == 1)

        // Two nodes racing on a server without the library both succeed.
        _ = try await fixture.command("FUNCTION", "FLUSH")
        let racers = (0..<2).map { _ in RedisHistory(client: fixture.client, window: HistoryWindow(), logger: testLogger) }
        let installs = racers.map { $0.installFunctions() }
        try await EventLoopFuture.andAllSucceed(installs, on: fixture.client.eventLoop).get(within: .seconds(5))
        #expect(try await fixture.command("FCALL_RO", "herald_version", "0").string == "\(HeraldFunctionLibrary.revision);maxEvents=1000;maxAgeMs=600000")

        await #expect(throws: RedisError.self) {
            try await RedisHistory(client: fixture.client, window: HistoryWindow(maxEvents: 0), logger: testLogger)
                .installFunctions().get(within: .seconds(5))
        }
        try await fixture.shutdown()
    }

    @Test func publishStampsTheOffsetAndPublishesTheStoredBytes() async throws {
        let fixture = try await HistoryFixture.start()
        try await fixture.subscribe("herald:{7}")
        let events = [#"{"type":"a","n":1}"#, #"{"type":"b","data":{"text":"é\u00e9 \"q\""}}"#, "  \n{ \"type\":\"c\"}", "{}", "{ }"]
        var offsets: [StreamOffset] = []
        for event in events {
            offsets.append(try await fixture.publish("herald:{7}", event))
        }
        #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count, "offsets increase")
        #expect(Set(offsets.map(\.epoch)).count == 1)
        let epoch = offsets[0].epoch
        #expect(epoch.count <= 16 && epoch.allSatisfy { $0.isNumber || ("a"..."z").contains($0) })
        #expect(try await fixture.command("GET", "herald:{7}:epoch").string == epoch)

        try await waitUntil("all events arrive") { fixture.messages.count == events.count }
        let stored = try await fixture.storedEvents("herald:{7}:log")
        #expect(stored.map(\.id) == offsets.map(\.streamID))
        #expect(fixture.messages.values.map(\.payload) == stored.map(\.event), "subscribers get the stored bytes")
        #expect(fixture.messages.values.allSatisfy { $0.channel == "herald:{7}" })

        let expected = [
            #"{"offset":"\#(offsets[0])","type":"a","n":1}"#,
            #"{"offset":"\#(offsets[1])","type":"b","data":{"text":"é\u00e9 \"q\""}}"#,
            #"{"offset":"\#(offsets[2])", "type":"c"}"#,
            #"{"offset":"\#(offsets[3])"}"#,
            #"{"offset":"\#(offsets[4])" }"#,
        ]
        #expect(stored.map { String(buffer: $0.event) } == expected)
        try await fixture.shutdown()
    }

    @Test func theValidatedVariantStoresAndPublishesLikeTheCheckedOneButSkipsTheChecks() async throws {
        let fixture = try await HistoryFixture.start()
        try await fixture.subscribe("herald:{9}")
        let checked = try await fixture.history.publish(channel: "herald:{9}", event: ByteBuffer(string: #"{"type":"a"}"#)).get(within: .seconds(5))
        let validated = try await fixture.history.publish(channel: "herald:{9}", event: ByteBuffer(string: #"{"type":"b"}"#), validated: true)
            .get(within: .seconds(5))
        #expect(validated > checked && validated.epoch == checked.epoch)
        let page = try await fixture.history.read(channel: "herald:{9}", after: checked, limit: 10).get(within: .seconds(5))
        #expect(page.events.map(\.offset) == [validated])
        #expect(String(buffer: page.events[0].payload).hasPrefix(#"{"offset":"\#(validated)","type":"b""#))
        // The checks are the caller's: an event herald_publish refuses goes through this variant.
        _ = try await fixture.history.publish(channel: "herald:{9}", event: ByteBuffer(string: #"{"type":"connected"}"#), validated: true)
            .get(within: .seconds(5))
        await #expect(throws: RedisError.self) {
            try await fixture.history.publish(channel: "herald:{9}", event: ByteBuffer(string: #"{"type":"connected"}"#)).get(within: .seconds(5))
        }
        try await fixture.shutdown()
    }

    @Test func nonObjectEventsAreRefused() async throws {
        let fixture = try await HistoryFixture.start()
        for event in ["[1]", "\"text\"", "", "  ", "1", "x{}"] {
            await #expect {
                try await fixture.publish("herald:{8}", event)
            } throws: { error in
                (error as? RedisError)?.serverMessage == "ERR herald: event must be a JSON object"
            }
        }
        #expect(try await fixture.command("EXISTS", "herald:{8}:log", "herald:{8}:epoch") == .integer(0))
        try await fixture.shutdown()
    }

    @Test func readReturnsLaterEventsInPages() async throws {
        let fixture = try await HistoryFixture.start()
        try await fixture.subscribe("herald:{9}")
        var offsets: [StreamOffset] = []
        for n in 0..<7 {
            offsets.append(try await fixture.publish("herald:{9}", #"{"n":\#(n)}"#))
        }
        try await waitUntil("all events arrive") { fixture.messages.count == 7 }
        let published = fixture.messages.values.map(\.payload)

        let first = try await fixture.read("herald:{9}", after: offsets[0], limit: 3)
        #expect(first == HistoryPage(
            epoch: offsets[0].epoch,
            events: (1...3).map { HistoryEvent(offset: offsets[$0], payload: published[$0]) },
            truncated: false,
            hasMore: true
        ))
        let second = try await fixture.read("herald:{9}", after: first.events.last!.offset, limit: 3)
        #expect(second.events.map(\.offset) == Array(offsets[4...6]))
        #expect(second.events.map(\.payload) == Array(published[4...6]))
        #expect(!second.truncated && !second.hasMore)

        // With a total, Redis says at once that more than it follow, and sends no event.
        let tooMany = try await fixture.history.read(channel: "herald:{9}", after: offsets[0], limit: 3, total: 5).get()
        #expect(tooMany.exceedsTotal && tooMany.events.isEmpty && !tooMany.truncated)
        let withinTotal = try await fixture.history.read(channel: "herald:{9}", after: offsets[0], limit: 3, total: 6).get()
        #expect(!withinTotal.exceedsTotal && withinTotal.events.count == 3)

        let exact = try await fixture.read("herald:{9}", after: offsets[3], limit: 3)
        #expect(exact.events.map(\.offset) == Array(offsets[4...6]) && !exact.hasMore)
        let atEnd = try await fixture.read("herald:{9}", after: offsets[6])
        #expect(atEnd == HistoryPage(epoch: offsets[0].epoch, events: [], truncated: false, hasMore: false))
        // An offset between entries (here: just after the third) still resumes at the next one.
        let between = StreamOffset(epoch: offsets[0].epoch, milliseconds: offsets[2].milliseconds, sequence: offsets[2].sequence + 1000)
        let fromBetween = try await fixture.read("herald:{9}", after: between)
        #expect(!fromBetween.truncated && fromBetween.events.first?.offset ?? offsets[0] > offsets[2])

        await #expect(throws: RedisError.self) { try await fixture.read("herald:{9}", after: offsets[0], limit: 0) }
        try await fixture.shutdown()
    }

    @Test func unrecoverableOffsetsAreTruncated() async throws {
        let fixture = try await HistoryFixture.start()
        let last = try await fixture.publish("herald:{10}", #"{"n":1}"#)
        let epoch = last.epoch

        let future = StreamOffset(epoch: epoch, milliseconds: last.milliseconds, sequence: last.sequence + 1)
        #expect(try await fixture.read("herald:{10}", after: future) == HistoryPage(epoch: epoch, events: [], truncated: true, hasMore: false))
        let farFuture = StreamOffset(epoch: epoch, milliseconds: .max, sequence: .max)
        #expect(try await fixture.read("herald:{10}", after: farFuture).truncated)

        let otherEpoch = StreamOffset(epoch: epoch == "abc" ? "abd" : "abc", milliseconds: 0, sequence: 0)
        #expect(try await fixture.read("herald:{10}", after: otherEpoch) == HistoryPage(epoch: epoch, events: [], truncated: true, hasMore: false))

        let noHistory = try await fixture.read("herald:{unknown}", after: StreamOffset(epoch: epoch, milliseconds: 0, sequence: 0))
        #expect(noHistory == HistoryPage(epoch: nil, events: [], truncated: true, hasMore: false))

        // History lost (e.g. Redis restarted without persistence): a new epoch, the old offsets are truncated.
        _ = try await fixture.command("DEL", "herald:{10}:log", "herald:{10}:epoch")
        let fresh = try await fixture.publish("herald:{10}", #"{"n":2}"#)
        #expect(fresh.epoch != epoch)
        #expect(try await fixture.read("herald:{10}", after: last).truncated)
        try await fixture.shutdown()
    }

    @Test func trimmedHistoryIsTruncatedButRecentOffsetsRecover() async throws {
        // Small stream nodes, so that approximate (whole-node) trimming removes entries in a short test.
        let fixture = try await HistoryFixture.start(
            window: HistoryWindow(maxEvents: 10), serverArguments: ["--stream-node-max-entries", "5"]
        )
        var offsets: [StreamOffset] = []
        for n in 0..<50 {
            offsets.append(try await fixture.publish("herald:{11}", #"{"n":\#(n)}"#))
        }
        let length = try #require(try await fixture.command("XLEN", "herald:{11}:log").int)
        #expect((10..<15).contains(length))

        #expect(try await fixture.read("herald:{11}", after: offsets[0]).truncated)
        #expect(try await fixture.read("herald:{11}", after: offsets[30]).truncated)
        let recent = try await fixture.read("herald:{11}", after: offsets[45])
        #expect(!recent.truncated && recent.events.map(\.offset) == Array(offsets[46...]))
        let oldestKept = StreamOffset(epoch: offsets[0].epoch, milliseconds: 0, sequence: 0).with(
            streamID: try #require(try await fixture.storedEvents("herald:{11}:log").first?.id)
        )
        let fromOldest = try await fixture.read("herald:{11}", after: oldestKept)
        #expect(!fromOldest.truncated && fromOldest.events.count == length - 1)
        try await fixture.shutdown()
    }

    @Test func eventsOlderThanMaxAgeAreTrimmed() async throws {
        let fixture = try await HistoryFixture.start(
            window: HistoryWindow(maxEvents: 1000, maxAge: .milliseconds(1000)), serverArguments: ["--stream-node-max-entries", "5"]
        )
        var offsets: [StreamOffset] = []
        for n in 0..<5 {
            offsets.append(try await fixture.publish("herald:{12}", #"{"n":\#(n)}"#))
        }
        try await Task.sleep(for: .milliseconds(600))
        for n in 5..<10 {
            offsets.append(try await fixture.publish("herald:{12}", #"{"n":\#(n)}"#))
        }
        try await Task.sleep(for: .milliseconds(600))
        offsets.append(try await fixture.publish("herald:{12}", #"{"n":10}"#))

        #expect(try await fixture.command("XLEN", "herald:{12}:log") == .integer(6), "the first node aged out")
        #expect(try await fixture.read("herald:{12}", after: offsets[0]).truncated)
        // Conservative edge: the newest trimmed entry cannot be told from older ones, so it is truncated too.
        #expect(try await fixture.read("herald:{12}", after: offsets[4]).truncated)
        let kept = try await fixture.read("herald:{12}", after: offsets[5])
        #expect(!kept.truncated && kept.events.map(\.offset) == Array(offsets[6...]))
        try await fixture.shutdown()
    }

    @Test func positionCreatesTheEpochAndReadsFromItRecoverEverything() async throws {
        let fixture = try await HistoryFixture.start(window: HistoryWindow(maxEvents: 1000, maxAge: .seconds(30)))
        let start = try await fixture.history.position(channel: "herald:{13}").get(within: .seconds(5))
        #expect(start.milliseconds == 0 && start.sequence == 0)
        #expect(try await fixture.command("GET", "herald:{13}:epoch").string == start.epoch)
        let epochTTL = try #require(try await fixture.command("PTTL", "herald:{13}:epoch").int)
        #expect((1...30_000).contains(epochTTL))
        #expect(try await fixture.read("herald:{13}", after: start) == HistoryPage(epoch: start.epoch, events: [], truncated: false, hasMore: false))
        #expect(try await fixture.history.position(channel: "herald:{13}").get(within: .seconds(5)) == start)

        var offsets: [StreamOffset] = []
        for n in 0..<3 {
            offsets.append(try await fixture.publish("herald:{13}", #"{"n":\#(n)}"#))
        }
        #expect(offsets.allSatisfy { $0.epoch == start.epoch })
        let page = try await fixture.read("herald:{13}", after: start)
        #expect(page.events.map(\.offset) == offsets && !page.truncated && !page.hasMore)
        #expect(try await fixture.history.position(channel: "herald:{13}").get(within: .seconds(5)) == offsets.last)

        for key in ["herald:{13}:log", "herald:{13}:epoch"] {
            let ttl = try #require(try await fixture.command("PTTL", key).int)
            #expect((1...30_000).contains(ttl), "\(key) expires")
        }
        try await fixture.shutdown()
    }

    @Test func backendsCanPublishWithAPlainFCALL() async throws {
        let fixture = try await HistoryFixture.start()
        try await fixture.subscribe("herald:{42}")
        let reply = try await fixture.command("FCALL", "herald_publish", "1", "herald:{42}", #"{"type":"order.paid","id":5}"#)
        let offset = try #require(reply.string.flatMap(StreamOffset.init))
        try await waitUntil("the event arrives") { fixture.messages.count == 1 }
        #expect(String(buffer: fixture.messages.values[0].payload) == #"{"offset":"\#(offset)","type":"order.paid","id":5}"#)
        let page = try await fixture.read("herald:{42}", after: StreamOffset(epoch: offset.epoch, milliseconds: 0, sequence: 0))
        #expect(page.events.map(\.offset) == [offset])
        try await fixture.shutdown()
    }

    @Test func reloadsTheLibraryWhenRedisLostIt() async throws {
        let fixture = try await HistoryFixture.start()
        _ = try await fixture.command("FUNCTION", "FLUSH")
        let offset = try await fixture.publish("herald:{14}", #"{"n":1}"#)
        #expect(try await fixture.read("herald:{14}", after: StreamOffset(epoch: offset.epoch, milliseconds: 0, sequence: 0)).events.count == 1)
        try await fixture.shutdown()
    }
}

extension StreamOffset {
    /// This offset's epoch with another stream entry id.
    fileprivate func with(streamID: String) -> StreamOffset {
        StreamOffset(epoch: self.epoch, streamID: streamID[...])!
    }
}
