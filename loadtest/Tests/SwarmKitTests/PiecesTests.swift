import Foundation
import Histogram
import NIOCore
@testable import SwarmKit
import Testing

@Suite("Parsing, percentiles and reports")
struct PiecesTests {
    @Test("stamps round-trip and are found inside other framings")
    func stampRoundTrip() {
        let stamp = EventStamp(sequence: 123, sentAtNanoseconds: 1_732_000_000_123_456_789)
        let event = stamp.eventJSON(eventBytes: 200)
        #expect(event.utf8.count == 200)
        let herald = #"{"offset":"abc:1-0","type":"swarm","data":"# + stamp.dataJSON(eventBytes: 10) + "}"
        #expect(EventStamp.find(in: ByteBuffer(string: event)) == stamp)
        #expect(EventStamp.find(in: ByteBuffer(string: herald)) == stamp)
        #expect(EventStamp.find(in: ByteBuffer(string: #"{"type":"connected","node":"n1"}"#)) == nil)
    }

    @Test("each line of a batched frame is a message (Centrifuge sends up to four per frame)")
    func batchedStamps() {
        let lines = (1...4).map { EventStamp(sequence: $0, sentAtNanoseconds: 7).eventJSON(eventBytes: 60) }
        let frame = lines.joined(separator: "\n") + "\n" + #"{"id":2,"result":{}}"# + "\n"
        var seen: [UInt64] = []
        #expect(EventStamp.forEach(in: ByteBuffer(string: frame)) { seen.append($0.sequence) } == 4)
        #expect(seen == [1, 2, 3, 4])
        #expect(EventStamp.forEach(in: ByteBuffer(string: #"{"id":1,"result":{}}"#)) { _ in } == 0)
    }

    @Test("percentiles come out in milliseconds")
    func percentiles() {
        var histogram = Histogram<UInt64>.microseconds()
        for micros in 1...1000 as ClosedRange<UInt64> { histogram.recordClamped(micros * 1000) }  // 1…1000 ms
        let summary = LatencySummary(microseconds: histogram)
        #expect(summary.count == 1000)
        #expect(abs(summary.p50 - 500) < 1)
        #expect(abs(summary.p99 - 990) < 1)
        #expect(abs(summary.max - 1000) < 1)
        #expect(LatencySummary(microseconds: Histogram<UInt64>.microseconds()) == .empty)
    }

    @Test("endpoints, loopback rule and source ranges")
    func endpoints() throws {
        let endpoint = try Endpoint(parsing: "ws://127.0.0.1:8081/sub/{account}")
        #expect(endpoint.port == 8081 && endpoint.isLoopback && endpoint.path(account: "a7") == "/sub/a7")
        #expect(try !Endpoint(parsing: "http://example.com/pub").isLoopback)
        #expect(try Endpoint(parsing: "redis://127.0.0.1").port == 6379)
        #expect(throws: Endpoint.ParseError.self) { try Endpoint(parsing: "ftp://x") }
        let pool = try SourceAddressPool(parsing: "127.0.0.2-127.0.0.4,127.0.1.1")
        #expect(pool.addresses == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1"])
        #expect(pool.address(for: 5) == "127.0.0.3")
        var config = SwarmConfiguration(targets: [try Endpoint(parsing: "ws://10.0.0.1:8080")])
        config.secret = String(repeating: "s", count: 32)
        #expect(config.problems(allowRemote: false).count == 1)
        #expect(config.problems(allowRemote: true).isEmpty)
    }

    @Test("round robin visits every account; zipf favours the first")
    func accountPicker() {
        var robin = AccountPicker(accounts: 3, spread: .roundRobin)
        #expect((0..<6).map { _ in robin.pick() } == [0, 1, 2, 0, 1, 2])
        var zipf = AccountPicker(accounts: 100, spread: .zipf(exponent: 1))
        var counts = Array(repeating: 0, count: 100)
        for _ in 0..<10_000 { counts[zipf.pick()] += 1 }
        #expect(counts[0] > counts[9] * 5)
        #expect(counts[0] > 1200 && counts[0] < 2200)  // 1/H(100) ≈ 19 %
    }

    @Test("/proc parsing")
    func procParsing() {
        let sample = ProcessSampler.parse(
            pid: 42, status: "Name:\tedge-node\nVmRSS:\t   51200 kB\n",
            stat: "42 (edge node) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0", ticksPerSecond: 100, now: 0)
        #expect(sample?.rssKiB == 51200)
        #expect(sample?.cpuSeconds == 3)
    }

    @Test("HTML report holds an SVG chart with one point per step")
    func htmlReport() throws {
        let json = #"""
            {"connect":{"attempts":2,"established":2,"failures":0,"perSecond":10,"rampSeconds":0.2,"time":{"count":2,"max":1,"mean":1,"p50":1,"p90":1,"p99":1,"p999":1}},"connectedAtEnd":2,"connectionsPerNode":{},"drops":0,"hitDurationCap":false,"outages":[],"reconnects":0,"seconds":5,"servers":[],"setup":{"accounts":1,"connections":2,"dialect":"generic","eventBytes":200,"label":"floor","maxP99Milliseconds":100,"publish":"none","spread":"round-robin","stepSeconds":2,"targets":[],"usersPerAccount":1},"steps":[
            {"accountsWithIssues":[],"delivered":20,"deliveriesPerSecond":10,"duplicates":0,"eligibleConnections":2,"eventsPerSecond":5,"expected":20,"index":0,"latency":{"count":20,"max":3,"mean":1,"p50":1,"p90":2,"p99":3,"p999":3},"lost":0,"passed":true,"publishFailures":0,"publishSkipped":0,"published":10,"reordered":0,"seconds":2,"servers":[]},
            {"accountsWithIssues":[],"delivered":40,"deliveriesPerSecond":20,"duplicates":0,"eligibleConnections":2,"eventsPerSecond":10,"expected":40,"index":1,"latency":{"count":40,"max":9,"mean":2,"p50":2,"p90":4,"p99":9,"p999":9},"lost":0,"passed":true,"publishFailures":0,"publishSkipped":0,"published":20,"reordered":0,"seconds":2,"servers":[]}],
            "tool":"swarm","totalDelivered":60,"unstampedFrames":0,"version":1}
            """#
        let report = try JSONDecoder().decode(RunReport.self, from: Data(json.utf8))
        let html = HTMLReport.render([report])
        #expect(html.contains("<svg"))
        #expect(html.components(separatedBy: "<circle").count - 1 == 2 * 3)  // 2 steps × p50/p99/p99.9
        #expect(ReportTable.render(report).contains("p99 ms"))
    }
}

@Suite("CPU per event")
struct CPUPerEventTests {
    @Test("CPU seconds over a count in µs each; nothing for no events")
    func perEvent() {
        #expect(SwarmRun.microseconds(0.5, per: 100_000) == 5)
        #expect(SwarmRun.microseconds(0.012345, per: 1_000) == 12.35)
        #expect(SwarmRun.microseconds(1, per: 0) == nil)
    }
}
