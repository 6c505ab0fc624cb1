import Foundation
import HeraldTestSupport
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A cluster started with `deploy/local/cluster.sh` for one test: one Redis, N edge nodes, HAProxy in front,
/// in a private state folder on free loopback ports, using the debug `edge-node` that
/// `swift build --build-tests` built beside the test bundle.
///
/// ```swift
/// let cluster = try await LocalCluster.up(nodes: 3)
/// defer { cluster.down() }
/// let token = try await cluster.token(account: "a1", user: "alice")
/// ```
final class LocalCluster: Sendable {
    /// The HS256 secret every node is given.
    static let secret = "cluster-test-secret-0123456789-0123456789"
    /// The API key every node accepts.
    static let apiKey = "cluster-test-api-key"

    /// The repository root (where `deploy/local/cluster.sh` lives).
    let repository: URL
    /// The private state folder: logs, PIDs, configs.
    let state: URL
    /// HAProxy's port on 127.0.0.1.
    let loadBalancerPort: Int
    /// `redis://127.0.0.1:<port>/0`, as recorded by `cluster.sh up`.
    let redisURL: String
    /// The edge-node binary the nodes run.
    let edgeNode: String
    private let environment: [String: String]

    private init(repository: URL, state: URL, loadBalancerPort: Int, redisURL: String, edgeNode: String, environment: [String: String]) {
        self.repository = repository
        self.state = state
        self.loadBalancerPort = loadBalancerPort
        self.redisURL = redisURL
        self.edgeNode = edgeNode
        self.environment = environment
    }

    /// Runs `cluster.sh up <nodes>` and returns once HAProxy sees every node up.
    ///
    /// - Parameter drainSeconds: `HERALD_DRAIN_SECONDS` of the nodes.
    static func up(nodes: Int, drainSeconds: Int = 4) async throws -> LocalCluster {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cluster-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let edgeNode = try Self.findEdgeNode(repository: repository)
        let port = try LoopbackPort.free()

        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HERALD_") || $0.key == "HERALD_REDIS_SERVER" }
        environment["HERALD_BUILD"] = "debug"
        environment["HERALD_SKIP_BUILD"] = "1"
        environment["HERALD_EDGE_NODE"] = edgeNode
        environment["HERALD_CLUSTER_STATE"] = state.path
        environment["HERALD_CLUSTER_PORT"] = String(port)
        environment["HERALD_JWT_SECRET"] = secret
        environment["HERALD_API_KEYS"] = apiKey
        environment["HERALD_DRAIN_SECONDS"] = String(drainSeconds)
        environment["HERALD_LOG_LEVEL"] = "notice"
        if let redisServer = environment["HERALD_REDIS_SERVER"] {
            // cluster.sh finds redis-server on the PATH.
            let directory = URL(fileURLWithPath: redisServer).deletingLastPathComponent().path
            environment["PATH"] = directory + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        }

        let output = try await Self.run(["up", String(nodes)], repository: repository, environment: environment, timeout: .seconds(300))
        let lines = output.stdout.split(separator: "\n")
        guard output.status == 0, lines.last.map(String.init) == "http://127.0.0.1:\(port)" else {
            let partial = LocalCluster(repository: repository, state: state, loadBalancerPort: port, redisURL: "", edgeNode: edgeNode, environment: environment)
            partial.down()
            throw ClusterTestFailure("cluster.sh up failed (status \(output.status)):\n\(output.stdout)\n\(output.stderr)")
        }
        let recorded = try String(contentsOf: state.appendingPathComponent("cluster.env"), encoding: .utf8)
        guard let redisLine = recorded.split(separator: "\n").first(where: { $0.hasPrefix("HERALD_CLUSTER_REDIS_URL=") }) else {
            throw ClusterTestFailure("cluster.env has no HERALD_CLUSTER_REDIS_URL:\n\(recorded)")
        }
        let redisURL = String(redisLine.dropFirst("HERALD_CLUSTER_REDIS_URL=".count))
        return LocalCluster(repository: repository, state: state, loadBalancerPort: port, redisURL: redisURL, edgeNode: edgeNode, environment: environment)
    }

    /// `cluster.sh stop-node <index>`: SIGTERM (drain), returns once the node has exited.
    func stopNode(_ index: Int) async throws {
        let output = try await Self.run(["stop-node", String(index)], repository: repository, environment: environment, timeout: .seconds(60))
        guard output.status == 0 else { throw ClusterTestFailure("stop-node \(index) failed: \(output.stderr)") }
    }

    /// `cluster.sh kill-node <index>`: SIGKILL.
    func killNode(_ index: Int) async throws {
        let output = try await Self.run(["kill-node", String(index)], repository: repository, environment: environment, timeout: .seconds(30))
        guard output.status == 0 else { throw ClusterTestFailure("kill-node \(index) failed: \(output.stderr)") }
    }

    /// `cluster.sh status`: every process and its readiness.
    func status() async -> String {
        let output = try? await Self.run(["status"], repository: repository, environment: environment, timeout: .seconds(30))
        return output.map { $0.stdout + $0.stderr } ?? "status failed"
    }

    /// `cluster.sh down`, then removes the private state folder (kept when `HERALD_TEST_KEEP_CLUSTER` is set).
    /// Synchronous so it can run in a `defer`; it never throws.
    func down() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repository.appendingPathComponent("deploy/local/cluster.sh").path, "down"]
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            print("cluster.sh down could not run: \(error)")
        }
        if ProcessInfo.processInfo.environment["HERALD_TEST_KEEP_CLUSTER"] == nil {
            try? FileManager.default.removeItem(at: state)
        } else {
            print("cluster state kept in \(state.path)")
        }
    }

    /// The last lines of node `index`'s log, for failure messages.
    func logTail(node index: Int, lines: Int = 15) -> String {
        let text = (try? String(contentsOf: state.appendingPathComponent("node-\(index).log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// An HS256 client token minted with `edge-node token`, the same tool users have.
    func token(account: String, user: String) async throws -> String {
        let output = try await Self.execute(
            URL(fileURLWithPath: edgeNode),
            ["token", "--account", account, "--user", user, "--secret", Self.secret, "--ttl", "3600"],
            environment: environment, timeout: .seconds(30))
        let token = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard output.status == 0, !token.isEmpty else { throw ClusterTestFailure("edge-node token failed: \(output.stderr)") }
        return token
    }

    /// `POST /api/v1/publish` through the load balancer.
    func publishThroughLoadBalancer(_ body: String) async throws -> TestHTTPClient.Response {
        try await TestHTTPClient.request(
            .POST, port: loadBalancerPort, path: "/api/v1/publish",
            headers: [("authorization", "Bearer \(Self.apiKey)"), ("content-type", "application/json")], body: body,
            timeout: .seconds(5))
    }

    // MARK: Processes

    /// What a finished child process printed.
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    private static func run(_ arguments: [String], repository: URL, environment: [String: String], timeout: Duration) async throws -> Output {
        try await execute(
            URL(fileURLWithPath: "/bin/bash"), [repository.appendingPathComponent("deploy/local/cluster.sh").path] + arguments,
            environment: environment, timeout: timeout)
    }

    /// Runs a child to completion. Output goes to files rather than pipes: the processes `up` starts in the
    /// background inherit them and outlive the script, so a pipe would never reach end-of-file.
    private static func execute(_ executable: URL, _ arguments: [String], environment: [String: String], timeout: Duration) async throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-cluster-run-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdout.close()
            try? stderr.close()
        }

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        let exited = ExitWatch()
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                exited.markExited()
                continuation.resume(returning: process.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(timeout.components.seconds))) {
                exited.killUnlessExited(pid)
            }
        }
        return Output(
            status: status,
            stdout: (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")
    }

    /// The debug edge-node built beside the test bundle (`swift build --build-tests` builds it), else `.build/debug`.
    private static func findEdgeNode(repository: URL) throws -> String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("edge-node").path,
            repository.appendingPathComponent(".build/debug/edge-node").path,
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ClusterTestFailure("no edge-node binary at \(candidates): build with `swift build --build-tests` (scripts/test.sh does)")
        }
        return found
    }

}

/// Whether a child has exited, so a timeout never signals a PID that was reaped and reused.
private final class ExitWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var exited = false

    func markExited() {
        lock.withLock { exited = true }
    }

    /// SIGKILL for a child that overran its time limit.
    func killUnlessExited(_ pid: Int32) {
        lock.withLock {
            if !exited { _ = kill(pid, SIGKILL) }
        }
    }
}
