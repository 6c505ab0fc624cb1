import Foundation
import HeraldTestSupport
import NIOCore
import PubSubBridge
import RedisBackend
import Testing

/// What sharding buys on the Redis side: the same live load (`SPUBLISH` at a fixed rate over 100
/// accounts, each with two WebSocket clients on one edge node) on a 1-primary and on a 3-primary
/// Redis Cluster, one after the other in one run; deliveries/s at the clients and CPU per primary
/// from `INFO cpu`. Figures in BENCHMARKS.md ("Redis Cluster: 1 vs 3 primaries").
///
/// `HERALD_BENCHMARKS=1 swift test --filter ClusterShardingBenchmark` (skipped otherwise);
/// `HERALD_BENCH_RATE` (events/s, default 4000) and `HERALD_BENCH_SECONDS` (default 5) change the load.
@Suite("Redis Cluster sharding benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["HERALD_BENCHMARKS"] == "1"))
struct ClusterShardingBenchmark {
    static let accounts = (0..<100).map { "bench-\($0)" }
    static var rate: Int { ProcessInfo.processInfo.environment["HERALD_BENCH_RATE"].flatMap(Int.init) ?? 4000 }
    static var seconds: Int { ProcessInfo.processInfo.environment["HERALD_BENCH_SECONDS"].flatMap(Int.init) ?? 5 }

    @Test("1 vs 3 primaries under the same live load", .timeLimit(.minutes(5)))
    func oneVersusThreePrimaries() async throws {
        var lines: [String] = []
        for primaries in [1, 3] {
            lines.append(try await run(primaries: primaries))
        }
        print("| primaries | events/s sent | deliveries/s | CPU per primary above idle (% of a core) | Redis CPU µs per event (all primaries) |")
        print("|---|---|---|---|---|")
        for line in lines { print(line) }
    }

    private func run(primaries: Int) async throws -> String {
        let cluster = try await ClusterFixture.start(nodes: 1, primaries: primaries, replicasPerPrimary: 0)
        defer {
            cluster.redis.stop()  // now: a Task might not run before the test process exits
            Task { await cluster.stop() }
        }
        var clients: [RecordingClient] = []
        for account in Self.accounts {
            for user in ["a", "b"] { clients.append(try await RecordingClient.connect(to: cluster.nodes[0], account: account, user: user)) }
        }
        try await cluster.waitForSubscribers(Self.accounts, count: 1)
        let ports = try await cluster.redis.shards().map(\.primaryPort)
        // What each primary spends with no events (cron, the cluster bus, keepalives), subtracted below.
        let idleStart = try await ports.asyncMap { try await cluster.redis.cpuSeconds(port: $0) }
        let idleClock = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        let idleEnd = try await ports.asyncMap { try await cluster.redis.cpuSeconds(port: $0) }
        let idleSeconds = Self.seconds(ContinuousClock.now - idleClock)
        let idleRate = zip(idleStart, idleEnd).map { ($1 - $0) / idleSeconds }
        let before = try await ports.asyncMap { try await cluster.redis.cpuSeconds(port: $0) }
        let receivedBefore = clients.map(\.events.count).reduce(0, +)
        let started = ContinuousClock.now

        // Every 10 ms, rate/100 SPUBLISHes round-robin over the accounts, pipelined; at most 20 ticks' worth wait for replies.
        var sent = 0
        let perTick = max(1, Self.rate / 100)
        let end = started + .seconds(Self.seconds)
        var waiting: [[EventLoopFuture<RESPValue>]] = []
        while ContinuousClock.now < end {
            let tick = ContinuousClock.now
            let replies = (0..<perTick).map { index -> EventLoopFuture<RESPValue> in
                let account = Self.accounts[(sent + index) % Self.accounts.count]
                let channel = AccountChannel.name(for: account)
                let event = #"{"type":"\#(RecordingClient.eventType)","data":{"seq":\#(sent + index),"pad":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}}"#
                return cluster.backend.send(["SPUBLISH", channel, event].map { ByteBuffer(string: $0) }, key: channel)
            }
            waiting.append(replies)
            if waiting.count > 20 {
                for reply in waiting.removeFirst() { _ = try await reply.get() }
            }
            sent += perTick
            let elapsed = ContinuousClock.now - tick
            if elapsed < .milliseconds(10) { try await Task.sleep(for: .milliseconds(10) - elapsed) }
        }
        for batch in waiting { for reply in batch { _ = try await reply.get() } }
        let seconds = Self.seconds(ContinuousClock.now - started)
        let after = try await ports.asyncMap { try await cluster.redis.cpuSeconds(port: $0) }
        // Deliveries still in flight arrive within a second.
        try await Task.sleep(for: .seconds(1))
        let delivered = clients.map(\.events.count).reduce(0, +) - receivedBefore
        let busy = zip(zip(before, after), idleRate).map { pair, idle in max(0, pair.1 - pair.0 - idle * seconds) }
        let cpu = busy.map { $0 / seconds * 100 }
        let cpuTotal = busy.reduce(0, +)
        for client in clients { await client.close() }
        return "| \(primaries) | \(Int(Double(sent) / seconds)) | \(Int(Double(delivered) / seconds)) (\(delivered) of \(sent * 2)) | "
            + cpu.map { String(format: "%.1f", $0) }.joined(separator: " / ")
            + " | \(String(format: "%.1f", cpuTotal / Double(max(1, sent)) * 1e6)) |"
    }
}

extension ClusterShardingBenchmark {
    fileprivate static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
