import FloorServer
import Logging
import SwarmKit
import Testing

/// End to end: swarm against a floor server that drops, duplicates and swaps known events of one
/// account must report exactly those faults, and nothing for the other accounts.
@Suite("Loss accounting against a faulty server", .timeLimit(.minutes(1)))
struct LossAccountingTests {
    @Test("drops 5 and 17, duplicates 9, swaps 3 and 4 of one account: swarm reports exactly that")
    func reportsInjectedFaults() async throws {
        let relay = FaultyRelay(faultyKey: "acct1", drop: [5, 17], duplicate: [9], swap: (3, 4))
        let server = try await FloorServer.start(eventLoops: 1, relay: relay)
        let report: RunReport
        do {
            var config = SwarmConfiguration(targets: [try Endpoint(parsing: "ws://127.0.0.1:\(server.port)/sub/{account}")])
            config.dialect = .generic
            config.accountPrefix = "acct"
            config.connections = 6  // 2 per account
            config.accounts = 3
            config.publish = .genericHTTP([try Endpoint(parsing: "http://127.0.0.1:\(server.port)/pub/{account}")])
            config.steps = [.init(eventsPerSecond: 30)]  // round robin: 10 events per account per second
            config.stepSeconds = 2.5  // 25 events per account: sequences 1…25 (covers 17)
            config.graceSeconds = 0.5
            config.settleSeconds = 0.2
            config.durationSeconds = 20
            config.eventLoops = 2
            config.progress = false
            report = try await SwarmRun(configuration: config, logger: Logger(label: "test")).run()
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()

        let step = try #require(report.steps.first)
        #expect(report.connect.established == 6)
        #expect(step.publishFailures == 0)
        #expect(step.eligibleConnections == 6)
        #expect(step.lost == 2 * 2)  // two sequences, two connections of acct1
        #expect(step.duplicates == 1 * 2)
        #expect(step.reordered == 1 * 2)
        #expect(step.accountsWithIssues.map(\.account) == ["acct1"])
        let issue = try #require(step.accountsWithIssues.first)
        #expect(issue.lost == 4 && issue.duplicates == 2 && issue.reordered == 2)
        #expect(step.expected == step.published * 2)
        #expect(step.delivered == step.expected - 4 + 2)
        #expect(!step.passed)
    }
}
