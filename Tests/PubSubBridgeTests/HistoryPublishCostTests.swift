import Foundation
import HeraldBroker
import HeraldProtocol
import Logging
import NIOCore
import RedisBackend
import Testing

@testable import PubSubBridge

/// Measures what herald_publish costs Redis compared with a plain PUBLISH; reports, never asserts on timings.
/// A benchmark, not a test: it asserts nothing about time and runs only when asked, with
/// `HERALD_BENCHMARKS=1 swift test --filter HistoryPublishCost` (see BENCHMARKS.md).
@Suite(
    "Redis CPU cost of herald_publish", .serialized, .timeLimit(.minutes(3)),
    .enabled(if: ProcessInfo.processInfo.environment["HERALD_BENCHMARKS"] != nil, "set HERALD_BENCHMARKS=1 to run benchmarks")
)
struct HistoryPublishCostTests {
    static let count = 20_000
    static let batch = 500
    static let event = #"{"type":"message.new","channel":"general","user":"u-1842","data":{"id":"m-9f2c41","text":"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.","at":1732500000000}}"#

    struct Phase: CustomStringConvertible {
        var name: String
        var usecPerCall: Double
        var cpuSeconds: Double
        var mainThreadCPUSeconds: Double

        var description: String {
            "\(self.name): \(String(format: "%.2f", self.usecPerCall)) µs/call (commandstats), "
                + "\(String(format: "%.3f", self.cpuSeconds)) s process CPU, "
                + "\(String(format: "%.3f", self.mainThreadCPUSeconds)) s main-thread CPU"
        }
    }

    @Test func publishVersusHeraldPublish() async throws {
        let fixture = try await HistoryFixture.start(recordPayloads: false)
        try await fixture.subscribe("plain:{1}")
        try await fixture.subscribe("herald:{1}")
        let event = ByteBuffer(string: Self.event)

        // Warm up, and fill the stream to its window so the measured publishes also trim.
        try await self.run(fixture, count: 2_000) { fixture.history.publish(channel: "herald:{1}", event: event).map { _ in } }
        try await self.run(fixture, count: 2_000) { fixture.client.publish(channel: "plain:{1}", message: event).map { _ in } }

        let plain = try await self.measure(fixture, name: "PUBLISH", command: "publish") {
            fixture.client.publish(channel: "plain:{1}", message: event).map { _ in }
        }
        let herald = try await self.measure(fixture, name: "FCALL herald_publish", command: "fcall") {
            fixture.history.publish(channel: "herald:{1}", event: event).map { _ in }
        }
        // What the node's HTTP API calls: the same without the event checks it made itself.
        let validated = try await self.measure(fixture, name: "FCALL herald_publish_validated", command: "fcall") {
            fixture.history.publish(channel: "herald:{1}", event: event, validated: true).map { _ in }
        }
        var logger = Logger(label: "herald.history.cost")
        logger.logLevel = .info
        logger.notice("""
            Redis cost of \(Self.count) publishes of a \(Self.event.utf8.count)-byte event to 1 subscriber, \
            pipelined \(Self.batch) at a time:
              \(plain)
              \(herald)
              \(validated)
              ratio herald/plain: \(String(format: "%.2f", herald.usecPerCall / plain.usecPerCall))x µs/call, \
            \(String(format: "%.2f", herald.cpuSeconds / plain.cpuSeconds))x process CPU, \
            \(String(format: "%.2f", herald.mainThreadCPUSeconds / plain.mainThreadCPUSeconds))x main-thread CPU
              ratio validated/plain: \(String(format: "%.2f", validated.usecPerCall / plain.usecPerCall))x µs/call, \
            \(String(format: "%.2f", validated.cpuSeconds / plain.cpuSeconds))x process CPU
            """)
        #expect(try await fixture.command("XLEN", "herald:{1}:log").int ?? 0 >= 1000)
        try await fixture.shutdown()
    }

    /// Runs `count` operations, `batch` in flight at a time, then waits until the subscriber has all messages.
    private func run(_ fixture: HistoryFixture, count: Int, _ operation: () -> EventLoopFuture<Void>) async throws {
        let expected = fixture.messages.count + count
        var done = 0
        while done < count {
            let size = min(Self.batch, count - done)
            let futures = (0..<size).map { _ in operation() }
            try await EventLoopFuture.andAllSucceed(futures, on: fixture.client.eventLoop).get(within: .seconds(30))
            done += size
        }
        try await waitUntil("the subscriber receives every message", timeout: .seconds(30)) { fixture.messages.count == expected }
    }

    private func measure(
        _ fixture: HistoryFixture, name: String, command: String, _ operation: () -> EventLoopFuture<Void>
    ) async throws -> Phase {
        _ = try await fixture.command("CONFIG", "RESETSTAT")
        let before = try await fixture.info("cpu")
        try await self.run(fixture, count: Self.count, operation)
        let after = try await fixture.info("cpu")
        let stats = try await fixture.commandStats(command)
        #expect(stats["calls"] == Double(Self.count))
        func delta(_ keys: [String]) -> Double {
            keys.reduce(0) { sum, key in sum + (Double(after[key] ?? "") ?? 0) - (Double(before[key] ?? "") ?? 0) }
        }
        return Phase(
            name: name,
            usecPerCall: stats["usec_per_call"] ?? 0,
            cpuSeconds: delta(["used_cpu_user", "used_cpu_sys"]),
            mainThreadCPUSeconds: delta(["used_cpu_user_main_thread", "used_cpu_sys_main_thread"])
        )
    }
}
