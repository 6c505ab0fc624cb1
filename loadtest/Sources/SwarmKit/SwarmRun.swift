import Foundation
import Histogram
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One whole `swarm` run: mint tokens, ramp the connections up, hold or publish through the load
/// steps (stopping a ladder at its first failing step), and measure everything into a
/// ``RunReport``. Bounded by `durationSeconds`: steps that would not fit are not started.
public struct SwarmRun: Sendable {
    public let configuration: SwarmConfiguration
    private let logger: Logger
    private let progress: @Sendable (String) -> Void

    /// - Parameter progress: receives the one-line progress text every second (stderr in the CLI).
    public init(configuration: SwarmConfiguration, logger: Logger, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.progress = progress
    }

    public func run() async throws -> RunReport {
        let clients = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoops))
        let publishers = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let monitor = NIOLockedValueBox<Task<Void, Never>?>(nil)
        let result: Result<RunReport, any Error>
        do {
            result = .success(try await measure(clients: clients, publisherLoop: publishers.next(), monitor: monitor))
        } catch {
            result = .failure(error)
        }
        // The monitor reads the loops: it must be gone before they shut down.
        if let task = monitor.withLockedValue({ $0 }) {
            task.cancel()
            await task.value
        }
        try? await clients.shutdownGracefully()
        try? await publishers.shutdownGracefully()
        return try result.get()
    }

    private func measure(
        clients: MultiThreadedEventLoopGroup, publisherLoop: any EventLoop, monitor monitorSlot: NIOLockedValueBox<Task<Void, Never>?>
    ) async throws -> RunReport {
        let config = configuration
        let runStart = WallClock.monotonic()
        let deadline = runStart + UInt64(config.durationSeconds * 1e9)
        func now() -> UInt64 { WallClock.monotonic() }
        func secondsLeft() -> Double { Double(Int64(bitPattern: deadline &- now())) / 1e9 }

        let tokens = try await mintTokens()
        let fleet = try ConnectionFleet(configuration: config, group: clients, tokens: tokens, logger: logger)
        let sampler = ProcessSampler(pids: config.serverPIDs)
        let ledger = PublishLedger(accounts: config.accounts)
        let sink = makeSink(loop: publisherLoop, ledger: ledger)
        let pacer = sink.map {
            PublishPacer(loop: publisherLoop, sink: $0, ledger: ledger, picker: AccountPicker(accounts: config.accounts, spread: config.spread))
        }
        if let sink { try await publisherLoop.flatSubmit { sink.start() }.get() }

        // Samples of the --pid processes and the fleet (start, load, every --sample-seconds, end).
        let recorder = SampleRecorder()
        let takeSample: @Sendable (String) async -> Void = { label in
            let sample = await self.sample(
                label: label, runStart: runStart, loadStart: recorder.loadStart, fleet: fleet, ledger: ledger, loop: publisherLoop,
                sampler: sampler, recorder: recorder)
            recorder.append(sample)
            if config.progress { self.progress(Self.describe(sample)) }
        }
        await takeSample("start")

        // Progress line, outage watch and periodic samples, until the run ends.
        let watch = OutageWatch(target: config.connections, runStart: runStart)
        let monitor = Task {
            var lastDelivered = 0
            var lastPublished = 0
            var tick = 0
            var nextSample = 1
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                watch.observe(connected: fleet.counters.connected.load(ordering: .relaxed), at: now())
                if config.sampleSeconds > 0, !recorder.isFinished, let loadStart = recorder.loadStart,
                    now() >= loadStart + UInt64(Double(nextSample) * config.sampleSeconds * 1e9)
                {
                    await takeSample("+\(Int((Double(nextSample) * config.sampleSeconds).rounded()))s")
                    nextSample += 1
                }
                tick += 1
                guard config.progress, tick % 10 == 0 else { continue }
                guard let snapshots = try? await fleet.snapshots(resetLatency: false).get() else { continue }
                let published = (try? await publisherLoop.submit { ledger.published }.get()) ?? 0
                var latency = Histogram<UInt64>.microseconds()
                var delivered = 0
                for snapshot in snapshots {
                    latency.add(snapshot.latency)
                    delivered += snapshot.delivered
                }
                let c = fleet.counters
                var line = String(
                    format: "swarm %3.0fs  conn %d/%d (fail %d, drop %d, recon %d)  pub %d/s  deliv %d/s  p99 %.1f ms",
                    Double(now() - runStart) / 1e9, c.connected.load(ordering: .relaxed), config.connections,
                    c.failures.load(ordering: .relaxed), c.drops.load(ordering: .relaxed), c.reconnects.load(ordering: .relaxed),
                    published - lastPublished, delivered - lastDelivered,
                    Double(latency.totalCount > 0 ? latency.valueAtPercentile(99) : 0) / 1000)
                if config.resume || config.churnPerSecond > 0 {
                    let gaps = snapshots.reduce(0) { $0 + $1.frames.gaps }
                    line += "  churn \(c.churned.load(ordering: .relaxed)) resume \(c.resumes.load(ordering: .relaxed)) gap \(gaps)"
                }
                progress(line)
                lastDelivered = delivered
                lastPublished = published
            }
        }
        monitorSlot.withLockedValue { $0 = monitor }
        defer { monitor.cancel() }

        // Ramp: launch every slot, then wait for all to be established (bounded).
        let rampStart = now()
        try await fleet.ramp().get()
        let rampLimit = rampStart + UInt64((Double(config.connections) / max(config.rampPerSecond, 1000) + config.handshakeTimeout.seconds + 5) * 1e9)
        while fleet.counters.connected.load(ordering: .relaxed) < config.connections, now() < rampLimit, now() < deadline {
            if !config.reconnect, fleet.counters.pending.load(ordering: .relaxed) == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let rampSeconds = Double(now() - rampStart) / 1e9
        let established = fleet.counters.connected.load(ordering: .relaxed)
        // Churn takes connections down on purpose, so outages are only watched without it.
        if established >= config.connections, config.churnPerSecond == 0 { watch.arm() }
        logger.info("ramp done", metadata: ["swarm.connected": "\(established)", "swarm.seconds": "\(rampSeconds)"])
        if let readyFile = config.readyFile {
            _ = FileManager.default.createFile(atPath: readyFile, contents: Data("\(established)\n".utf8))
        }
        let pings = fleet.startPings(every: config.pingSeconds)
        let churn = fleet.startChurn(perSecond: config.churnPerSecond)
        let messages = fleet.startClientMessages(
            typingPerSecond: config.typingPerSecond, presencePerSecond: config.presencePerSecond, conversations: config.typingConversations)

        try await Task.sleep(for: .seconds(min(config.settleSeconds, max(0, secondsLeft()))))
        let rampSnapshots = try await fleet.snapshots(resetLatency: true).get()
        recorder.startLoad(at: now())
        await takeSample("load")

        var steps: [RunReport.Step] = []
        var hitCap = false
        var endServers = sampler.sample()
        if config.steps.isEmpty {
            let hold = min(config.holdSeconds, max(0, secondsLeft() - 1))
            if hold < config.holdSeconds { hitCap = true }
            try await Task.sleep(for: .seconds(hold))
            endServers = sampler.sample()
        } else if let pacer {
            for (index, step) in config.steps.enumerated() {
                guard secondsLeft() >= config.stepSeconds + config.graceSeconds else {
                    hitCap = true
                    break
                }
                let result = try await runStep(
                    index: index, step: step, fleet: fleet, pacer: pacer, sink: sink!, ledger: ledger,
                    loop: publisherLoop, sampler: sampler, deadline: deadline)
                steps.append(result)
                if config.isLadder, !result.passed { break }
            }
            endServers = sampler.sample()
        }

        await takeSample("end")
        recorder.finish()
        pings.forEach { $0.cancel() }
        churn?.cancel()
        messages?.cancel()
        let finalSnapshots = try await fleet.snapshots(resetLatency: false).get()
        let connectedAtEnd = fleet.counters.connected.load(ordering: .relaxed)
        watch.disarm()
        try? await fleet.stop().get()
        if let sink { try? await publisherLoop.flatSubmit { sink.stop() }.get() }

        var connectTime = Histogram<UInt64>.microseconds()
        var nodes = [String: Int]()
        for snapshot in rampSnapshots {
            connectTime.add(snapshot.connectTime)
            nodes.merge(snapshot.nodes, uniquingKeysWith: +)
        }
        let counters = fleet.counters
        let passing = steps.filter(\.passed).map(\.deliveriesPerSecond).max()
        return RunReport(
            setup: setup(),
            connect: .init(
                attempts: counters.attempts.load(ordering: .relaxed), established: established,
                failures: counters.failures.load(ordering: .relaxed), rampSeconds: rounded(rampSeconds),
                perSecond: rounded(Double(established) / max(rampSeconds, 0.001)), time: LatencySummary(microseconds: connectTime)),
            steps: steps,
            reconnects: counters.reconnects.load(ordering: .relaxed),
            drops: counters.drops.load(ordering: .relaxed),
            connectedAtEnd: connectedAtEnd,
            connectionsPerNode: nodes.filter { $0.value > 0 },
            outages: watch.outages(),
            servers: endServers.map { .init(pid: $0.pid, rssKiB: $0.rssKiB, cpuPercent: 0, openDescriptors: $0.openDescriptors) },
            totalDelivered: finalSnapshots.reduce(0) { $0 + $1.delivered },
            unstampedFrames: finalSnapshots.reduce(0) { $0 + $1.otherFrames },
            seconds: rounded(Double(now() - runStart) / 1e9),
            maxPassingDeliveriesPerSecond: passing,
            hitDurationCap: hitCap,
            samples: recorder.samples.isEmpty ? nil : recorder.samples,
            activity: config.dialect == .herald
                ? .init(
                    churned: counters.churned.load(ordering: .relaxed), resumes: counters.resumes.load(ordering: .relaxed),
                    typingSent: counters.typingSent.load(ordering: .relaxed), presenceSent: counters.presenceSent.load(ordering: .relaxed),
                    messagesSkipped: counters.messagesSkipped.load(ordering: .relaxed),
                    frames: finalSnapshots.reduce(into: FrameCounts()) { $0.add($1.frames) })
                : nil)
    }

    // MARK: One step

    private func runStep(
        index: Int, step: SwarmConfiguration.LoadStep, fleet: ConnectionFleet, pacer: PublishPacer, sink: any EventSink,
        ledger: PublishLedger, loop: any EventLoop, sampler: ProcessSampler, deadline: UInt64
    ) async throws -> RunReport.Step {
        let config = configuration
        let before = try await fleet.snapshots(resetLatency: true).get()
        let samplesBefore = sampler.sample()
        let ownBefore = sampler.sample(pid: getpid())
        let counts = try await loop.submit { (ledger.published, ledger.failures, ledger.skipped) }.get()
        fleet.pauseChurn(false)
        let startedAt = WallClock.monotonic()
        try await loop.submit {
            ledger.beginStep()
            pacer.start(eventsPerSecond: step.eventsPerSecond)
        }.get()
        try await Task.sleep(for: .seconds(config.stepSeconds))
        try await loop.submit { pacer.stop() }.get()
        // With --resume churned slots finish their replay before the step is judged.
        if config.resume { fleet.pauseChurn(true) }
        try await Task.sleep(for: .seconds(config.graceSeconds))
        // Give a backed-up publisher a little longer to drain, never past the run's deadline.
        let drainLimit = min(deadline, WallClock.monotonic() + 5_000_000_000)
        var drained = false
        while try await loop.submit({ sink.backlog }).get() > 0, WallClock.monotonic() < drainLimit {
            drained = true
            try await Task.sleep(for: .milliseconds(50))
        }
        // Events acknowledged while draining get the same grace to arrive as the others did;
        // judging at once would count the last of them lost.
        if drained, WallClock.monotonic() < deadline {
            try await Task.sleep(for: .seconds(min(config.graceSeconds, Double(deadline - WallClock.monotonic()) / 1e9)))
        }
        let (ranges, failed, after) = try await loop.submit {
            let (ranges, failed) = ledger.stepRanges()
            return (ranges, failed, (ledger.published, ledger.failures, ledger.skipped))
        }.get()
        let losses = try await fleet.evaluate(StepWindow(startedAt: startedAt, ranges: ranges, failed: failed)).get()
        let snapshots = try await fleet.snapshots(resetLatency: true).get()
        let samplesAfter = sampler.sample()
        let ownAfter = sampler.sample(pid: getpid())

        var latency = Histogram<UInt64>.microseconds()
        var delivered = 0
        var duplicates = Array(repeating: 0, count: config.accounts)
        var reordered = Array(repeating: 0, count: config.accounts)
        var gaps = Array(repeating: 0, count: config.accounts)
        for snapshot in snapshots {
            latency.add(snapshot.latency)
            delivered += snapshot.delivered
            for account in 0..<config.accounts {
                duplicates[account] += snapshot.duplicates[account]
                reordered[account] += snapshot.reordered[account]
                gaps[account] += snapshot.gaps[account]
            }
        }
        for snapshot in before {
            delivered -= snapshot.delivered
            for account in 0..<config.accounts {
                duplicates[account] -= snapshot.duplicates[account]
                reordered[account] -= snapshot.reordered[account]
                gaps[account] -= snapshot.gaps[account]
            }
        }
        let lossByAccount = Dictionary(uniqueKeysWithValues: losses.map { ($0.account, $0) })
        var issues: [RunReport.AccountIssue] = []
        for account in 0..<config.accounts {
            let loss = lossByAccount[account] ?? AccountLoss(account: account)
            guard loss.lost > 0 || duplicates[account] > 0 || reordered[account] > 0 || gaps[account] > 0 else { continue }
            issues.append(
                .init(
                    account: config.accountName(account), eligibleConnections: loss.eligibleConnections,
                    expected: loss.expected, lost: loss.lost, duplicates: duplicates[account], reordered: reordered[account],
                    gaps: gaps[account]))
        }
        let lost = losses.reduce(0) { $0 + $1.lost }
        let summary = LatencySummary(microseconds: latency)
        var stopReason: String?
        if lost > 0 {
            stopReason = "lost \(lost) deliveries"
        } else if summary.p99 > config.maxP99Milliseconds {
            stopReason = "p99 \(summary.p99) ms over \(config.maxP99Milliseconds) ms"
        }
        let published = after.0 - counts.0
        let servers = samplesAfter.map { sample in
            let earlier = samplesBefore.first { $0.pid == sample.pid }
            let cpuSeconds = earlier.map { sample.cpuSeconds - $0.cpuSeconds }
            return RunReport.ServerUse(
                pid: sample.pid, rssKiB: sample.rssKiB,
                cpuPercent: earlier.map { sample.cpuPercent(since: $0) } ?? 0,
                openDescriptors: sample.openDescriptors,
                microsecondsPerDelivery: cpuSeconds.flatMap { Self.microseconds($0, per: delivered) },
                microsecondsPerPublish: cpuSeconds.flatMap { Self.microseconds($0, per: published) })
        }
        var swarmUse: RunReport.SwarmUse?
        if let ownBefore, let ownAfter {
            swarmUse = .init(
                cpuPercent: ownAfter.cpuPercent(since: ownBefore),
                microsecondsPerReceivedEvent: Self.microseconds(ownAfter.cpuSeconds - ownBefore.cpuSeconds, per: delivered))
        }
        return RunReport.Step(
            index: index, targetDeliveriesPerSecond: step.targetDeliveriesPerSecond, eventsPerSecond: step.eventsPerSecond,
            seconds: config.stepSeconds, published: published, publishFailures: after.1 - counts.1,
            publishSkipped: after.2 - counts.2,
            eligibleConnections: losses.reduce(0) { $0 + $1.eligibleConnections },
            expected: losses.reduce(0) { $0 + $1.expected }, delivered: delivered,
            deliveriesPerSecond: rounded(Double(delivered) / config.stepSeconds), lost: lost,
            duplicates: duplicates.reduce(0, +), reordered: reordered.reduce(0, +),
            ineligibleConnections: losses.reduce(0) { $0 + $1.ineligibleConnections }, gaps: gaps.reduce(0, +), latency: summary,
            accountsWithIssues: Array(issues.prefix(100)), servers: servers, swarm: swarmUse, stopReason: stopReason,
            passed: stopReason == nil)
    }

    /// CPU seconds spread over `count` things, in µs each (rounded to 0.01), or nil for none.
    static func microseconds(_ cpuSeconds: Double, per count: Int) -> Double? {
        guard count > 0 else { return nil }
        return (cpuSeconds * 1e8 / Double(count)).rounded() / 100
    }

    // MARK: Samples

    /// One sample: the --pid processes (RSS, descriptors, CPU since the previous sample) and the
    /// fleet's and publisher's totals.
    private func sample(
        label: String, runStart: UInt64, loadStart: UInt64?, fleet: ConnectionFleet, ledger: PublishLedger, loop: any EventLoop,
        sampler: ProcessSampler, recorder: SampleRecorder
    ) async -> RunReport.Sample {
        let snapshots = (try? await fleet.snapshots(resetLatency: false).get()) ?? []
        let (published, failures) = (try? await loop.submit { (ledger.published, ledger.failures) }.get()) ?? (0, 0)
        let processes = sampler.sample()
        let previous = recorder.exchangeProcesses(processes)
        let taken = WallClock.monotonic()
        var frames = FrameCounts()
        var delivered = 0
        var duplicates = 0
        for snapshot in snapshots {
            frames.add(snapshot.frames)
            delivered += snapshot.delivered
            duplicates += snapshot.duplicates.reduce(0, +)
        }
        let c = fleet.counters
        return RunReport.Sample(
            label: label, seconds: rounded(Double(taken &- runStart) / 1e9),
            loadSeconds: loadStart.map { rounded(Double(Int64(bitPattern: taken &- $0)) / 1e9) } ?? rounded(-Double(taken &- runStart) / 1e9),
            servers: processes.map { process in
                RunReport.ServerSample(
                    pid: process.pid, rssKiB: process.rssKiB, openDescriptors: process.openDescriptors,
                    cpuPercent: previous.first { $0.pid == process.pid }.map { process.cpuPercent(since: $0) } ?? 0)
            },
            connected: c.connected.load(ordering: .relaxed), churned: c.churned.load(ordering: .relaxed),
            reconnects: c.reconnects.load(ordering: .relaxed), drops: c.drops.load(ordering: .relaxed),
            failures: c.failures.load(ordering: .relaxed), resumes: c.resumes.load(ordering: .relaxed),
            recovered: frames.recovered, replayed: frames.replayed, gaps: frames.gaps, published: published,
            publishFailures: failures, delivered: delivered, duplicates: duplicates,
            typingSent: c.typingSent.load(ordering: .relaxed), presenceSent: c.presenceSent.load(ordering: .relaxed),
            presenceStates: frames.presenceStates, typingEvents: frames.typingEvents, errors: frames.errors)
    }

    /// The progress line of one sample.
    static func describe(_ sample: RunReport.Sample) -> String {
        let servers = sample.servers.map { "pid \($0.pid) RSS \($0.rssKiB) KiB fds \($0.openDescriptors.map(String.init) ?? "?") CPU \($0.cpuPercent)%" }
        return "swarm sample \(sample.label) (\(sample.seconds) s): " + (servers.isEmpty ? "" : servers.joined(separator: ", ") + " | ")
            + "conn \(sample.connected) churned \(sample.churned) resumes \(sample.resumes) gaps \(sample.gaps) "
            + "pub \(sample.published) deliv \(sample.delivered) dup \(sample.duplicates) drops \(sample.drops) "
            + "typing \(sample.typingSent) presence \(sample.presenceSent)/\(sample.presenceStates) errors \(sample.errors)"
    }

    // MARK: Pieces

    private func mintTokens() async throws -> [String] {
        guard configuration.dialect == .herald, let secret = configuration.secret else { return [] }
        let minter = await TokenMinter(secret: secret, accountClaim: configuration.accountClaim)
        var tokens: [String] = []
        tokens.reserveCapacity(configuration.accounts * configuration.usersPerAccount)
        for account in 0..<configuration.accounts {
            for user in 0..<configuration.usersPerAccount {
                tokens.append(
                    try await minter.mint(account: configuration.accountName(account), user: "u\(user)", channels: configuration.channels))
            }
        }
        return tokens
    }

    private func makeSink(loop: any EventLoop, ledger: PublishLedger) -> (any EventSink)? {
        let config = configuration
        let encoder = EventEncoder(eventBytes: config.eventBytes, accountName: { config.accountName($0) })
        switch config.publish {
        case .none:
            return nil
        case .redisPublish(let endpoint, let template):
            return RedisEventSink(endpoint: endpoint, command: .publish(channelTemplate: template), loop: loop, encoder: encoder, ledger: ledger)
        case .redisFunction(let endpoint):
            return RedisEventSink(endpoint: endpoint, command: .function, loop: loop, encoder: encoder, ledger: ledger)
        case .heraldHTTP(let endpoints, let key):
            return HTTPEventSink(
                endpoints: endpoints, body: .heraldAPI(apiKey: key), loop: loop, encoder: encoder, ledger: ledger,
                connectionsPerEndpoint: configuration.publishConnections)
        case .genericHTTP(let endpoints):
            return HTTPEventSink(
                endpoints: endpoints, body: .rawEvent, loop: loop, encoder: encoder, ledger: ledger,
                connectionsPerEndpoint: configuration.publishConnections)
        }
    }

    private func setup() -> RunReport.Setup {
        let config = configuration
        let publish: String
        switch config.publish {
        case .none: publish = "none"
        case .redisPublish(let endpoint, let template): publish = "redis PUBLISH \(template) @ \(endpoint)"
        case .redisFunction(let endpoint): publish = "redis FCALL herald_publish @ \(endpoint)"
        case .heraldHTTP(let endpoints, _): publish = "http POST /api/v1/publish @ " + endpoints.map(\.description).joined(separator: ",")
        case .genericHTTP(let endpoints): publish = "http POST " + endpoints.map(\.description).joined(separator: ",")
        }
        let spread: String
        switch config.spread {
        case .roundRobin: spread = "round-robin"
        case .zipf(let exponent): spread = "zipf(\(exponent))"
        }
        return .init(
            label: config.label, dialect: config.dialect.rawValue, targets: config.targets.map(\.description), publish: publish,
            connections: config.connections, accounts: config.accounts, usersPerAccount: config.usersPerAccount,
            eventBytes: config.eventBytes, spread: spread, stepSeconds: config.stepSeconds, maxP99Milliseconds: config.maxP99Milliseconds)
    }
}

func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

extension TimeAmount {
    var seconds: Double { Double(nanoseconds) / 1e9 }
}

/// Notices when established connections fall below the target after the ramp and how long they
/// take to all come back (the reconnect storm after a node dies).
final class OutageWatch: Sendable {
    private let target: Int
    private let runStart: UInt64
    private let state = NIOLockedValueBox<(armed: Bool, open: (start: UInt64, lowest: Int)?, done: [RunReport.Outage])>((false, nil, []))

    init(target: Int, runStart: UInt64) {
        self.target = target
        self.runStart = runStart
    }

    /// Starts watching (once every connection was established).
    func arm() { state.withLockedValue { $0.armed = true } }

    /// Stops watching (before `swarm` closes its own connections).
    func disarm() { state.withLockedValue { $0.armed = false } }

    func observe(connected: Int, at now: UInt64) {
        state.withLockedValue { state in
            guard state.armed else { return }
            if connected < target {
                if let open = state.open {
                    state.open = (open.start, min(open.lowest, connected))
                } else {
                    state.open = (now, connected)
                }
            } else if let open = state.open {
                state.done.append(
                    .init(
                        startedAt: rounded(Double(open.start - runStart) / 1e9), lowestConnected: open.lowest,
                        recoverySeconds: rounded(Double(now - open.start) / 1e9)))
                state.open = nil
            }
        }
    }

    /// Outages so far, an unfinished one last with no recovery time.
    func outages() -> [RunReport.Outage] {
        state.withLockedValue { state in
            state.done + (state.open.map { [.init(startedAt: rounded(Double($0.start - runStart) / 1e9), lowestConnected: $0.lowest, recoverySeconds: nil)] } ?? [])
        }
    }
}

/// The samples of one run and the moment the load started; shared by the run and its monitor.
final class SampleRecorder: Sendable {
    private let state = NIOLockedValueBox<(samples: [RunReport.Sample], processes: [ProcessSample], loadStart: UInt64?, finished: Bool)>(
        ([], [], nil, false))

    var samples: [RunReport.Sample] { state.withLockedValue { $0.samples }.sorted { $0.seconds < $1.seconds } }
    var loadStart: UInt64? { state.withLockedValue { $0.loadStart } }

    func startLoad(at time: UInt64) { state.withLockedValue { $0.loadStart = time } }
    /// No periodic samples after the `end` one.
    func finish() { state.withLockedValue { $0.finished = true } }
    var isFinished: Bool { state.withLockedValue { $0.finished } }
    func append(_ sample: RunReport.Sample) { state.withLockedValue { $0.samples.append(sample) } }

    /// Stores this sample's process readings and returns the previous ones (for CPU use between).
    func exchangeProcesses(_ processes: [ProcessSample]) -> [ProcessSample] {
        state.withLockedValue { state in
            defer { state.processes = processes }
            return state.processes
        }
    }
}
