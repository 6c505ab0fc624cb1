import EdgeNode
import Glibc
import Foundation
import HTTPUpstream
import HeraldTestSupport
import Logging
import NIOCore
import NIOPosix
import PubSubBridge
import RedisBackend
import HeraldBroker
import ServiceLifecycle

/// Shared secrets and helpers for the edge node tests.
enum Fixture {
    static let secret = "test-secret-0123456789-0123456789"
    static let apiKey = "test-api-key"

    static func token(account: String = "42", user: String = "alice", channels: [String] = [], lifetime: TimeInterval = 600) async throws -> String {
        try await DevelopmentToken.mint(secret: secret, account: account, user: user, channels: channels, lifetime: lifetime)
    }

    static func configuration() -> EdgeNodeConfiguration {
        EdgeNodeConfiguration(
            host: "127.0.0.1", port: 0, nodeID: "node-\(UUID().uuidString.prefix(6))",
            authentication: AuthenticationConfiguration(hmacSecret: secret),
            apiKeys: [apiKey], drainTimeout: .seconds(2), eventLoopCount: 2)
    }

    /// Where a test node sends client messages that are not Herald's own.
    enum Upstream: Sendable {
        case none
        /// The Redis stream(s) of `key` on the node's Redis, with these caps.
        case stream(UpstreamStreamKey = UpstreamStreamKey(), StreamCaps = StreamCaps())
        /// An HTTP endpoint.
        case http(HTTPUpstreamSink.Configuration)
    }

    /// Redis at `redisURL` (a short subscription linger, so tests see unsubscribes quickly), or the
    /// embedded broker without one; with the upstream and lifecycle stream asked for.
    /// - Parameter publishPerLoop: publish on a Redis connection per event loop
    ///   (`HERALD_REDIS_PUBLISH_PER_LOOP`); off, as on a node by default.
    static func backend(
        redisURL: String?, window: HistoryWindow = HistoryWindow(), upstream: Upstream = .none, lifecycleStream: String? = nil,
        publishPerLoop: Bool = false
    ) throws -> NodeBackend.Factory {
        guard let redisURL else {
            let embedded = NodeBackend.embedded(window: window)
            return { context in
                var backend = try embedded(context)
                if case .http(let configuration) = upstream {
                    backend.upstream = try HTTPUpstreamSink(configuration: configuration, eventLoop: context.eventLoop, logger: context.logger)
                }
                return backend
            }
        }
        let redis = try RedisConfiguration(url: redisURL)
        return { context in
            let broker = RedisEventBroker(
                configuration: redis, eventLoop: context.eventLoop, linger: .milliseconds(200), window: window,
                publishLoops: publishPerLoop ? context.eventLoops : [], logger: context.logger)
            var backend = NodeBackend(
                broker: broker,
                presenceStore: RedisPresenceStore(
                    client: broker.commands, timing: context.presenceTiming, logger: context.logger, lifecycleStream: lifecycleStream),
                name: "redis")
            let streams = RedisCommandClient(configuration: redis, eventLoop: context.eventLoop, logger: context.logger)
            switch upstream {
            case .none:
                break
            case .stream(let key, let caps):
                streams.start()
                backend.upstream = RedisUpstreamStream(client: streams, key: key, caps: caps, logger: context.logger)
            case .http(let configuration):
                backend.upstream = try HTTPUpstreamSink(configuration: configuration, eventLoop: context.eventLoop, logger: context.logger)
            }
            if let lifecycleStream {
                streams.start()
                backend.lifecycle = RedisLifecycleStream(client: streams, key: lifecycleStream, caps: StreamCaps(), node: context.nodeID, logger: context.logger)
            }
            return backend
        }
    }
}

/// One edge node running as a service on a free port, stopped with a graceful shutdown.
final class RunningNode: Sendable {
    let server: EdgeNodeServer
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(server: EdgeNodeServer, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.server = server
        self.port = port
        self.group = group
        self.task = task
    }

    /// - Parameter ready: wait until `/readyz` answers 200 before returning.
    static func start(
        redisURL: String? = nil, window: HistoryWindow = HistoryWindow(), ready: Bool = true, upstream: Fixture.Upstream = .none,
        lifecycleStream: String? = nil,
        _ customize: (inout EdgeNodeConfiguration) -> Void = { _ in }
    ) async throws -> RunningNode {
        let backend = try Fixture.backend(redisURL: redisURL, window: window, upstream: upstream, lifecycleStream: lifecycleStream)
        return try await launch(backend: backend, ready: ready, customize)
    }

    /// A node on `backend` (a Redis Cluster, say); otherwise as ``start(redisURL:window:ready:upstream:lifecycleStream:_:)``.
    static func launch(
        backend: @escaping NodeBackend.Factory, ready: Bool = true, _ customize: (inout EdgeNodeConfiguration) -> Void = { _ in }
    ) async throws -> RunningNode {
        var configuration = Fixture.configuration()
        customize(&configuration)
        var logger = Logger(label: "test.edge-node")
        logger.logLevel = ProcessInfo.processInfo.environment["HERALD_TEST_LOG"] == nil ? .critical : .debug
        let server = EdgeNodeServer(configuration: configuration, backend: backend, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let task = Task { try await group.run() }
        let port = try await server.listeningPort()
        let node = RunningNode(server: server, port: port, group: group, task: task)
        if ready { try await node.waitUntilReady() }
        return node
    }

    /// Polls `/readyz` until it answers 200 (bounded).
    func waitUntilReady(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let response = try? await TestHTTPClient.request(.GET, port: port, path: "/readyz"), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("node on port \(port) not ready within \(timeout)")
    }

    func connect(token: String, path: String? = nil, headers: [(String, String)] = [], receiveBufferSize: Int? = nil) async throws -> TestWebSocketClient {
        let client = try await TestWebSocketClient.connect(
            port: port, path: path ?? "/ws?token=\(token)", headers: headers, receiveBufferSize: receiveBufferSize)
        let connected = try await client.receiveJSON()
        guard connected["type"] as? String == "connected" else { throw TestFailure("first frame was \(connected)") }
        return client
    }

    /// The HTTP refusal of an upgrade to `path`; fails the test when the upgrade is accepted.
    func refusal(path: String, headers: [(String, String)] = []) async throws -> HeraldTestSupport.HTTPRefusal {
        do {
            let client = try await TestWebSocketClient.connect(port: port, path: path, headers: headers)
            await client.close()
            throw TestFailure("upgrade to \(path) was accepted")
        } catch let refusal as HeraldTestSupport.HTTPRefusal {
            return refusal
        }
    }

    func publish(_ json: String, key: String = Fixture.apiKey) async throws -> TestHTTPClient.Response {
        try await TestHTTPClient.request(
            .POST, port: port, path: "/api/v1/publish",
            headers: [("authorization", "Bearer \(key)"), ("content-type", "application/json")], body: json)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A raw Redis connection for tests: PUBLISH like `redis-cli` does, and PUBSUB queries.
struct RedisProbe {
    let connection: RedisConnection

    static func connect(_ redis: RedisServerProcess) async throws -> RedisProbe {
        let configuration = try RedisConfiguration(url: redis.url)
        var logger = Logger(label: "test.redis")
        logger.logLevel = .critical
        return RedisProbe(connection: try await RedisConnection.connect(
            configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger).get())
    }

    func publish(account: String, _ json: String) async throws -> Int64 {
        let reply = try await connection.send("PUBLISH", "herald:{\(account)}", json).get()
        guard case .integer(let receivers) = reply else { throw TestFailure("PUBLISH answered \(reply)") }
        return receivers
    }

    func subscriberCount(account: String) async throws -> Int64 {
        let reply = try await connection.send("PUBSUB", "NUMSUB", "herald:{\(account)}").get()
        guard case .array(let items) = reply, items.count == 2, case .integer(let count) = items[1] else { return 0 }
        return count
    }

    /// Waits until `count` nodes subscribe to the account's channel (bounded).
    func waitForSubscribers(account: String, count: Int64, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await subscriberCount(account: account) == count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("herald:{\(account)} never reached \(count) subscribers")
    }

    func close() async { _ = try? await connection.close().get() }
}

extension TestWebSocketClient {
    /// Text messages received until the connection goes quiet, parsed as JSON objects; presence
    /// events (which every connect and disconnect causes) are left out unless asked for.
    func drainJSON(quiet: Duration = .milliseconds(300), includingPresence: Bool = false) async -> [[String: Any]] {
        await drain(quiet: quiet).compactMap(\.json).filter { includingPresence || !Self.isPresence($0) }
    }

    /// The next JSON message that is not a presence event.
    func next(timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        for _ in 0..<1000 {
            let message = try await receiveJSON(timeout: timeout)
            if !Self.isPresence(message) { return message }
        }
        throw TestFailure("only presence events arrived")
    }

    /// The next text message that is not a presence event.
    func nextText(timeout: Duration = .seconds(5)) async throws -> String {
        for _ in 0..<1000 {
            let text = try await receiveText(timeout: timeout)
            if !text.contains(#""type":"presence.join""#), !text.contains(#""type":"presence.leave""#) { return text }
        }
        throw TestFailure("only presence events arrived")
    }

    static func isPresence(_ message: [String: Any]) -> Bool {
        ["presence.join", "presence.leave"].contains(message["type"] as? String)
    }
}

typealias EdgeNodeConfigurationAlias = EdgeNodeConfiguration

/// The `edge-node` executable run as a child process, so a test can kill it with SIGKILL.
final class EdgeNodeProcess: Sendable {
    let port: Int
    private let process: Process

    /// The child's resident memory in bytes, from /proc.
    var residentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    /// Starts `edge-node` (built beside the test bundle) on a free port and waits until it is ready.
    static func start(environment: [String: String]) async throws -> EdgeNodeProcess {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("edge-node")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw TestFailure("\(binary.path) is missing: build with `swift build --build-tests` (scripts/test.sh does)")
        }
        let port = try LoopbackPort.free()
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve"]
        var variables = ProcessInfo.processInfo.environment
        variables["HERALD_LISTEN"] = "127.0.0.1:\(port)"
        variables["HERALD_LOG_LEVEL"] = "error"
        for (name, value) in environment { variables[name] = value }
        process.environment = variables
        try process.run()
        let node = EdgeNodeProcess(port: port, process: process)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let response = try? await TestHTTPClient.request(.GET, port: port, path: "/readyz"), response.status == 200 { return node }
            try await Task.sleep(for: .milliseconds(50))
        }
        node.kill()
        throw TestFailure("edge-node child on port \(port) never became ready")
    }

    /// SIGKILL: no drain, no cleanup — what a crash looks like to the rest of the cluster.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

}
