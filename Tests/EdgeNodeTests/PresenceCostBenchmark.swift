import Foundation
import HeraldTestSupport
import PubSubBridge
import Testing

/// A benchmark, not a test: how many Redis calls presence costs per second for a given number
/// of connections and accounts. Run with `HERALD_BENCHMARKS=1 swift test --filter PresenceCostBenchmark`.
@Suite(
    "Presence Redis cost", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["HERALD_BENCHMARKS"] != nil, "set HERALD_BENCHMARKS=1 to run benchmarks")
)
struct PresenceCostBenchmark {
    @Test("FCALLs per second at steady state", arguments: [(2000, 20), (2000, 200), (2000, 2000)])
    func steadyState(connections: Int, accounts: Int) async throws {
        let redis = try await RedisServerProcess.start()
        defer { redis.stop() }
        let node = try await RunningNode.start(redisURL: redis.url) {
            $0.presenceTiming = .init(entryTTL: 3000, refreshInterval: 1000, typingTTL: 1500)
        }
        var clients: [TestWebSocketClient] = []
        for index in 0..<connections {
            let token = try await Fixture.token(account: "a\(index % accounts)", user: "u\(index % 7)")
            clients.append(try await TestWebSocketClient.connect(port: node.port, path: "/ws?token=\(token)"))
        }
        try await Task.sleep(for: .seconds(2))
        let probe = try await RedisProbe.connect(redis)
        _ = try await probe.connection.send("CONFIG", "RESETSTAT").get()
        let window = 5.0
        try await Task.sleep(for: .seconds(window))
        let stats = try await probe.connection.send("INFO", "commandstats").get().string ?? ""
        let calls = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_fcall:") }
            .flatMap { line in line.split(separator: ",").first { $0.contains("calls=") } }
            .flatMap { Int($0.split(separator: "=").last ?? "") } ?? 0
        let perSecond = Double(calls) / window
        print("presence cost: \(connections) connections over \(accounts) accounts, refresh 1 s: \(String(format: "%.1f", perSecond)) FCALL/s"
            + " → per 10,000 connections at the default 10 s refresh: \(String(format: "%.1f", perSecond / 10 * 10_000 / Double(connections))) FCALL/s")
        for client in clients { await client.close() }
        await probe.close()
        await node.stop()
    }
}
