import Foundation
import Logging
import NIOCore
import Testing

@testable import SwarmKit

@Suite("Offsets, frame kinds and the resume loss rule")
struct ResumeTests {
    @Test("an event's offset is read from its first key only; the connected frame's from anywhere")
    func offsets() {
        let event = #"{"offset":"lq3k2f:1732500000000-0","type":"swarm","data":{"seq":1,"ts":2,"pad":""}}"#
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: event)) == "lq3k2f:1732500000000-0")
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: #"{"type":"swarm","offset":"a:1-0"}"#)) == nil)
        let connected = #"{"type":"connected","connection_id":"n1-4","node":"n1","account":"a","user":"u","heartbeat":30,"offset":"19a:0-0"}"#
        #expect(FrameScan.offset(in: ByteBuffer(string: connected)) == "19a:0-0")
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: connected)) == nil)
        // Only 0-9 a-z : - pass (the value goes into the query string unescaped), and it must end.
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: #"{"offset":"a&b=1","type":"x"}"#)) == nil)
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: #"{"offset":"A:1-0","type":"x"}"#)) == nil)
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: #"{"offset":"","type":"x"}"#)) == nil)
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: #"{"offset":"abc:1-0"#)) == nil)
        let long = String(repeating: "a", count: 100)
        #expect(FrameScan.leadingOffset(in: ByteBuffer(string: #"{"offset":"\#(long)","type":"x"}"#)) == nil)
    }

    @Test("recovery frames, types and errors are told apart")
    func frameKinds() {
        let ok = FrameScan.recovery(in: ByteBuffer(string: #"{"type":"recovery","recovered":true,"count":12}"#))
        #expect(ok == .init(recovered: true, count: 12, channel: false))
        let gap = FrameScan.recovery(in: ByteBuffer(string: #"{"type":"recovery","recovered":false,"count":0,"reason":"out_of_window"}"#))
        #expect(gap == .init(recovered: false, count: 0, channel: false, reason: "out_of_window"))
        let error = ByteBuffer(string: #"{"type":"error","code":"rate_limited","message":"slow down"}"#)
        #expect(FrameScan.stringValue(of: "code", in: error) == "rate_limited")
        #expect(FrameScan.stringValue(of: "code", in: ByteBuffer(string: #"{"code":"a\"b"}"#)) == nil)
        let channel = FrameScan.recovery(in: ByteBuffer(string: #"{"type":"recovery","recovered":true,"count":3,"channel":"inbox"}"#))
        #expect(channel?.channel == true)
        #expect(FrameScan.recovery(in: ByteBuffer(string: #"{"type":"pong"}"#)) == nil)
        #expect(FrameScan.type(in: ByteBuffer(string: #"{"type":"presence.state","users":[]}"#)) == "presence.state")
        #expect(FrameScan.type(in: ByteBuffer(string: #"{"users":[]}"#)) == nil)
    }

    @Test("resumed slots stay owed; gaps, unfinished replays and late starts are left out")
    func lossRule() {
        let tally = LoopTally(accounts: 1)
        func slot(_ index: Int, owedSince: UInt64?, established: Bool = true, awaiting: Bool = false, received: ClosedRange<UInt64>) {
            var state = ConnectionSlot(index: index, account: 0)
            state.owedSince = owedSince
            state.establishedAt = established ? 500 : nil
            state.awaitingRecovery = awaiting
            tally.slots[index] = state
            for sequence in received where !(index == 1 && sequence == 7) {
                tally.recordDelivery(slot: index, stamp: EventStamp(sequence: sequence, sentAtNanoseconds: 0), now: 0, offset: "e:\(sequence)-0")
            }
        }
        slot(0, owedSince: 50, received: 1...10)  // resumed several times, complete
        slot(1, owedSince: 50, received: 1...10)  // missed 7
        slot(2, owedSince: 50, awaiting: true, received: 1...4)  // replay not finished
        slot(3, owedSince: 150, received: 5...10)  // chain started after the step began
        slot(4, owedSince: 50, established: false, received: 1...3)  // reconnecting
        #expect(tally.slots[0]?.lastOffset == "e:10-0")

        let losses = tally.evaluate(StepWindow(startedAt: 100, ranges: [0: 1...10], failed: [:]))
        #expect(losses.count == 1)
        #expect(losses[0].eligibleConnections == 2 && losses[0].ineligibleConnections == 3)
        #expect(losses[0].expected == 20 && losses[0].lost == 1)

        // A reported gap breaks the chain: counted as a gap, the slot is owed only what follows,
        // and with no event on the new connection it resumes from that connection's base.
        tally.slots[5] = {
            var state = ConnectionSlot(index: 5, account: 0)
            state.owedSince = 50
            state.establishedAt = 500
            state.lastOffset = "e:3-0"
            state.resumedFrom = "e:3-0"
            state.awaitingRecovery = true
            return state
        }()
        tally.recordRecovery(slot: 5, recovery: .init(recovered: false, count: 0, channel: false, reason: "unavailable"), connectedOffset: "e:9-0", now: 700)
        #expect(tally.gaps == [1] && tally.frames.gaps == 1 && tally.frames.gapReasons == ["unavailable": 1])
        #expect(tally.slots[5]?.owedSince == 700 && tally.slots[5]?.awaitingRecovery == false && tally.slots[5]?.lastOffset == "e:9-0")
        tally.recordRecovery(slot: 0, recovery: .init(recovered: true, count: 4, channel: false), connectedOffset: "e:10-0", now: 700)
        #expect(tally.frames.recovered == 1 && tally.frames.replayed == 4 && tally.slots[0]?.lastOffset == "e:10-0")
    }

    @Test("a resuming slot asks for since; the rate check respects the flood limit")
    func requestPathAndRates() throws {
        var config = SwarmConfiguration(targets: [try Endpoint(parsing: "ws://127.0.0.1:8080")])
        config.secret = String(repeating: "s", count: 32)
        config.connections = 100
        config.resume = true
        config.publish = .redisPublish(try Endpoint(parsing: "redis://127.0.0.1"), channelTemplate: "herald:{{account}}")
        #expect(config.problems(allowRemote: false).contains { $0.contains("--resume needs events with offsets") })
        config.publish = .redisFunction(try Endpoint(parsing: "redis://127.0.0.1"))
        #expect(config.problems(allowRemote: false).isEmpty)
        config.typingPerSecond = 1500
        config.presencePerSecond = 600  // 21/s per connection
        #expect(config.problems(allowRemote: false).contains { $0.contains("flood limit") })
        config.typingPerSecond = 1000
        config.presencePerSecond = 500
        #expect(config.problems(allowRemote: false).isEmpty)

        let group = NIOSingletons.posixEventLoopGroup
        let fleet = try ConnectionFleet(configuration: config, group: group, tokens: Array(repeating: "t", count: 10), logger: Logger(label: "test"))
        #expect(fleet.requestPath(slot: 3, endpoint: config.targets[0]) == "/ws?token=t")
        #expect(fleet.requestPath(slot: 3, endpoint: config.targets[0], since: "abc:12-0") == "/ws?token=t&since=abc:12-0")
    }

    @Test("open descriptors are counted from /proc")
    func descriptors() throws {
        let pid = ProcessInfo.processInfo.processIdentifier
        // Other tests run alongside and open or close descriptors of their own meanwhile, so the
        // count must move by far more than they could.
        let before = try #require(ProcessSampler.openDescriptors(pid: pid))
        let handles = try (0..<64).map { _ in try #require(FileHandle(forReadingAtPath: "/proc/self/status")) }
        let during = try #require(ProcessSampler.openDescriptors(pid: pid))
        for handle in handles { try handle.close() }
        #expect(during >= before + 32)
        #expect(ProcessSampler(pids: [pid]).sample().first?.openDescriptors != nil)
    }
}

/// End to end against ``FakeHerald``: churned slots reconnect with `since`, the replay fills what
/// they missed, and the loss rule judges them with the rest; a server that replays nothing is
/// caught, and reported gaps are counted apart from loss.
@Suite("Resume against a fake Herald", .serialized, .timeLimit(.minutes(1)))
struct ResumeEndToEndTests {
    func run(fault: FakeHerald.Fault) async throws -> (RunReport, Int) {
        let server = try await FakeHerald.start(fault: fault)
        let report: RunReport
        do {
            var config = SwarmConfiguration(targets: [try Endpoint(parsing: "ws://127.0.0.1:\(server.port)/ws/accounts/{account}/")])
            config.secret = String(repeating: "s", count: 32)
            config.accountPrefix = "acct"
            config.connections = 8
            config.accounts = 2
            config.resume = true
            config.churnPerSecond = 5
            config.publish = .genericHTTP([try Endpoint(parsing: "http://127.0.0.1:\(server.port)/pub/{account}")])
            config.steps = [.init(eventsPerSecond: 60)]
            config.stepSeconds = 3
            config.graceSeconds = 1
            config.settleSeconds = 0.3
            config.sampleSeconds = 1
            config.durationSeconds = 20
            config.eventLoops = 2
            config.progress = false
            report = try await SwarmRun(configuration: config, logger: Logger(label: "test")).run()
        } catch {
            try await server.stop()
            throw error
        }
        let resumes = server.resumes
        try await server.stop()
        return (report, resumes)
    }

    @Test("a correct replay: churned slots stay eligible and nothing is lost")
    func correctReplay() async throws {
        let (report, resumes) = try await run(fault: .none)
        let step = try #require(report.steps.first)
        let activity = try #require(report.activity)
        #expect(activity.churned >= 5 && resumes >= 5 && activity.resumes >= 5)
        #expect(activity.frames.recovered >= 5 && activity.frames.replayed > 0)
        #expect(step.eligibleConnections == 8)  // churned ones too: churn pauses for the grace period
        #expect(step.lost == 0 && step.duplicates == 0 && step.reordered == 0 && step.gaps == 0)
        #expect(step.expected == step.published * 4)
        let samples = try #require(report.samples)
        #expect(samples.first?.label == "start" && samples.last?.label == "end" && samples.contains { $0.label == "+1s" })
    }

    @Test("a server that replays nothing loses what churned slots missed")
    func silentLoss() async throws {
        let (report, _) = try await run(fault: .replayNothing)
        let step = try #require(report.steps.first)
        #expect(step.eligibleConnections == 8)
        #expect(step.lost > 0 && !step.passed)
    }

    @Test("reported gaps are counted apart and their slots left out")
    func reportedGaps() async throws {
        let (report, _) = try await run(fault: .gap)
        let step = try #require(report.steps.first)
        #expect((step.gaps ?? 0) >= 5 && report.activity?.frames.gaps == step.gaps)
        #expect(report.activity?.frames.gapReasons.keys.sorted() == ["out_of_window"])
        #expect(step.lost == 0 && step.eligibleConnections < 8)
    }
}
