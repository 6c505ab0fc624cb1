import Foundation

/// A throwaway Redis Cluster for integration tests: `primaries` primaries with `replicasPerPrimary`
/// replicas each, every node a ``RedisServerProcess`` on a free loopback port with
/// `--cluster-enabled yes`, joined with `redis-cli --cluster create … --cluster-replicas N --cluster-yes`.
///
/// Administration (failover checks, resharding) goes through `redis-cli`, found beside
/// `HERALD_REDIS_SERVER` or on the `PATH`. Every node is stopped by ``stop()`` or, at the latest,
/// when the value is deallocated.
public final class RedisClusterProcess: @unchecked Sendable {
    /// Why the cluster could not be started or changed.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// One node's role and slots as `CLUSTER SHARDS` reports them.
    public struct Shard: Sendable, Equatable {
        public var primaryPort: Int
        public var primaryID: String
        /// Replicas that are not failed (a replica counts from its first sync on).
        public var replicaPorts: [Int]
        public var slots: [ClosedRange<Int>]

        public func serves(slot: Int) -> Bool { slots.contains { $0.contains(slot) } }
    }

    /// Every node, in start order (the first `primaries` were created as primaries).
    public let nodes: [RedisServerProcess]
    private let cli: String

    /// `127.0.0.1:<port>,…` of every node: what `HERALD_REDIS_CLUSTER_NODES` takes.
    public var seeds: String {
        nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    }

    private init(nodes: [RedisServerProcess], cli: String) {
        self.nodes = nodes
        self.cli = cli
    }

    deinit {
        stop()
    }

    /// Starts the nodes, creates the cluster and waits until every node agrees on it and every replica is in sync.
    /// A single primary without replicas (which `redis-cli --cluster create` refuses) gets every slot with
    /// `CLUSTER ADDSLOTSRANGE`.
    ///
    /// - Parameters:
    ///   - durable: AOF with `appendfsync always` on every node.
    ///   - nodeTimeoutMilliseconds: `cluster-node-timeout`: how long a silent primary takes to be failed over.
    public static func start(
        primaries: Int = 3, replicasPerPrimary: Int = 1, durable: Bool = false, nodeTimeoutMilliseconds: Int = 1000
    ) async throws -> RedisClusterProcess {
        let cli = try findCLI()
        var arguments = [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", String(nodeTimeoutMilliseconds),
            // A replica may be promoted however long it was cut off (the test kills primaries on purpose).
            "--cluster-replica-validity-factor", "0",
            // Replicas sync at once rather than after the default 5 s wait for more of them.
            "--repl-diskless-sync-delay", "0",
        ]
        if durable { arguments += ["--appendonly", "yes", "--appendfsync", "always"] }
        var nodes: [RedisServerProcess] = []
        do {
            for _ in 0..<(primaries * (1 + replicasPerPrimary)) {
                nodes.append(try await RedisServerProcess.start(extraArguments: arguments))
            }
            let cluster = RedisClusterProcess(nodes: nodes, cli: cli)
            if primaries == 1 && replicasPerPrimary == 0 {
                let added = try await cluster.redisCLI(["-p", String(nodes[0].port), "CLUSTER", "ADDSLOTSRANGE", "0", "16383"], timeout: .seconds(5))
                guard added.output.hasPrefix("OK") else { throw Failure(description: "CLUSTER ADDSLOTSRANGE answered \(added.output)") }
                try await cluster.waitUntilStable(primaries: 1, replicasPerPrimary: 0, timeout: .seconds(20))
                return cluster
            }
            let create = try await cluster.redisCLI(
                ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" }
                    + ["--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"], timeout: .seconds(30))
            guard create.status == 0 else { throw Failure(description: "redis-cli --cluster create failed: \(create.output.suffix(800))") }
            try await cluster.waitUntilStable(primaries: primaries, replicasPerPrimary: replicasPerPrimary, timeout: .seconds(20))
            return cluster
        } catch {
            for node in nodes { node.stop() }
            throw error
        }
    }

    /// Stops every node still running.
    public func stop() {
        for node in nodes { node.stop() }
    }

    /// The node on `port`.
    public func node(port: Int) -> RedisServerProcess? {
        nodes.first { $0.port == port }
    }

    // MARK: Topology

    /// The shards as the node on `port` (else the first that answers) reports them, primaries that are not failed only.
    public func shards(askingPort port: Int? = nil) async throws -> [Shard] {
        let candidates = (port.map { [$0] } ?? []) + nodes.map(\.port)
        var lastError = ""
        for candidate in candidates {
            let result = try await redisCLI(["-p", String(candidate), "CLUSTER", "SHARDS"], timeout: .seconds(5))
            guard result.status == 0, !result.output.isEmpty, !result.output.hasPrefix("Could not connect") else {
                lastError = result.output
                continue
            }
            return Self.parseShards(result.output)
        }
        throw Failure(description: "no node answered CLUSTER SHARDS: \(lastError)")
    }

    /// The shard whose primary serves `slot`.
    public func shard(forSlot slot: Int) async throws -> Shard {
        guard let shard = try await shards().first(where: { $0.serves(slot: slot) }) else {
            throw Failure(description: "no primary serves slot \(slot)")
        }
        return shard
    }

    /// `CLUSTER KEYSLOT key`, as the server computes it.
    public func keySlot(_ key: String) async throws -> Int {
        let result = try await redisCLI(["-p", String(nodes[0].port), "CLUSTER", "KEYSLOT", key], timeout: .seconds(5))
        guard let slot = Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "CLUSTER KEYSLOT answered \(result.output)")
        }
        return slot
    }

    /// Runs one command with `redis-cli -c` (following redirections) against the cluster; returns its raw output.
    @discardableResult
    public func command(_ arguments: String...) async throws -> String {
        let ports = nodes.map(\.port)
        for port in ports {
            let result = try await redisCLI(["-c", "-p", String(port)] + arguments, timeout: .seconds(10))
            if result.status == 0 && !result.output.hasPrefix("Could not connect") { return result.output }
        }
        throw Failure(description: "no node ran \(arguments.joined(separator: " "))")
    }

    /// Waits until every live node reports `cluster_state:ok`, `primaries` primaries serving all slots, and
    /// `replicasPerPrimary` replicas each whose link to their primary is up.
    public func waitUntilStable(primaries: Int, replicasPerPrimary: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            var stable = true
            for node in nodes where node.isRunning {
                let info = try await redisCLI(["-p", String(node.port), "CLUSTER", "INFO"], timeout: .seconds(5))
                let shards = Self.parseShards(try await redisCLI(["-p", String(node.port), "CLUSTER", "SHARDS"], timeout: .seconds(5)).output)
                let serving = shards.filter { !$0.slots.isEmpty }
                let covered = serving.reduce(0) { $0 + $1.slots.reduce(0) { $0 + $1.count } }
                let replication = try await redisCLI(["-p", String(node.port), "INFO", "replication"], timeout: .seconds(5)).output
                if !info.output.contains("cluster_state:ok") || serving.count != primaries || covered != 16_384
                    || serving.contains(where: { $0.replicaPorts.count < replicasPerPrimary })
                    || (replication.contains("role:slave") && !replication.contains("master_link_status:up"))
                {
                    stable = false
                    last = "node \(node.port): \(info.output.split(separator: "\n").first ?? "") shards \(shards)"
                    break
                }
            }
            if stable { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "cluster not stable within \(timeout): \(last)")
    }

    /// `used_cpu_user + used_cpu_sys` of the node on `port`, in seconds (`INFO cpu`).
    public func cpuSeconds(port: Int) async throws -> Double {
        let info = try await redisCLI(["-p", String(port), "INFO", "cpu"], timeout: .seconds(5)).output
        var total = 0.0
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("used_cpu_user:") || line.hasPrefix("used_cpu_sys:") {
            total += Double(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return total
    }

    // MARK: Faults and changes

    /// SIGKILLs the primary on `port` and waits until another node serves its slots and the cluster is `ok`.
    /// Returns the port of the promoted replica.
    public func killPrimaryAndAwaitFailover(port: Int, timeout: Duration = .seconds(20)) async throws -> Int {
        guard let node = node(port: port) else { throw Failure(description: "no node on port \(port)") }
        let before = try await shards(askingPort: port)
        guard let shard = before.first(where: { $0.primaryPort == port }), let probe = shard.slots.first?.lowerBound else {
            throw Failure(description: "port \(port) is not a primary with slots")
        }
        let survivor = nodes.first { $0.port != port && $0.isRunning }!.port
        node.kill()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let shards = (try? await self.shards(askingPort: survivor)) ?? []
            if let promoted = shards.first(where: { $0.serves(slot: probe) }), promoted.primaryPort != port {
                let info = try await redisCLI(["-p", String(promoted.primaryPort), "CLUSTER", "INFO"], timeout: .seconds(5))
                if info.output.contains("cluster_state:ok") { return promoted.primaryPort }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "no replica took over the slots of \(port) within \(timeout)")
    }

    /// `redis-cli --cluster reshard`: moves `count` slots (the source's lowest) from one primary to another,
    /// keys included, while the cluster keeps serving.
    public func reshard(from source: Shard, to target: Shard, slots count: Int) async throws -> String {
        let result = try await redisCLI(
            [
                "--cluster", "reshard", "127.0.0.1:\(source.primaryPort)", "--cluster-from", source.primaryID,
                "--cluster-to", target.primaryID, "--cluster-slots", String(count), "--cluster-yes", "--cluster-pipeline", "10",
            ], timeout: .seconds(60))
        guard result.status == 0 else { throw Failure(description: "redis-cli --cluster reshard failed: \(result.output.suffix(1500))") }
        return result.output
    }

    // MARK: redis-cli

    /// What `redis-cli` printed (stdout and stderr) and its exit status.
    public struct Output: Sendable {
        public var status: Int32
        public var output: String
    }

    /// Runs `redis-cli` with `arguments`; killed after `timeout`. Output goes through a file, so any amount is fine.
    public func redisCLI(_ arguments: [String], timeout: Duration) async throws -> Output {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("herald-redis-cli-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let pid = process.processIdentifier
            let watch = DispatchWorkItem { if process.isRunning { _ = kill(pid, SIGKILL) } }
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000)), execute: watch)
        }
        let output = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return Output(status: status, output: output)
    }

    private static func findCLI() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        var directories: [String] = []
        if let server = environment["HERALD_REDIS_SERVER"], !server.isEmpty {
            directories.append(URL(fileURLWithPath: server).deletingLastPathComponent().path)
        }
        directories += (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/redis-cli") {
            return "\(directory)/redis-cli"
        }
        throw Failure(description: "redis-cli not found beside HERALD_REDIS_SERVER or on the PATH (Debian: apt-get install redis-tools)")
    }

    /// Reads `redis-cli CLUSTER SHARDS` output (one value per line): shards with a live primary.
    static func parseShards(_ text: String) -> [Shard] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        var shards: [Shard] = []
        var index = 0
        while index < lines.count {
            guard lines[index] == "slots" else {
                index += 1
                continue
            }
            index += 1
            var bounds: [Int] = []
            while index < lines.count, let value = Int(lines[index]) {
                bounds.append(value)
                index += 1
            }
            if index < lines.count, lines[index].isEmpty { index += 1 }  // an empty slot list prints as one empty line
            guard index < lines.count, lines[index] == "nodes" else { continue }
            index += 1
            var primary: (Int, String)?
            var replicas: [Int] = []
            var fields: [String: String] = [:]
            func flush() {
                guard let port = fields["port"].flatMap(Int.init) else { return }
                if fields["role"] == "master", fields["health"] != "fail" { primary = (port, fields["id"] ?? "") }
                if fields["role"] == "replica", fields["health"] != "fail" { replicas.append(port) }
                fields = [:]
            }
            while index + 1 < lines.count, lines[index] != "slots" {
                if lines[index] == "id", !fields.isEmpty { flush() }
                fields[lines[index]] = lines[index + 1]
                index += 2
            }
            flush()
            if let primary {
                let slots = stride(from: 0, to: bounds.count - 1, by: 2).map { bounds[$0]...bounds[$0 + 1] }
                shards.append(Shard(primaryPort: primary.0, primaryID: primary.1, replicaPorts: replicas.sorted(), slots: slots))
            }
        }
        return shards.sorted { $0.primaryPort < $1.primaryPort }
    }
}
