import Foundation
import HeraldTestSupport

/// One browser tab as the protocol asks clients to behave: it connects through the load balancer, keeps the
/// offset of the last event it received (or of the `connected` frame, until the first event), pings while it
/// is otherwise silent, and whenever its connection ends — a 1012 from a draining node or a dropped TCP
/// connection — reconnects through the load balancer with `?since=<last offset>` (bounded retries with
/// exponential backoff and jitter). It deduplicates nothing: every event frame is recorded as it arrived.
final class ResumingClient: @unchecked Sendable {
    /// What the client has seen so far.
    struct Record: Sendable {
        /// Test events in arrival order.
        var events: [ReceivedEvent] = []
        /// The `node` of every `connected` frame, in order; the last one is the current node.
        var nodes: [String] = []
        /// `recovery` frames: whether the replay was complete, and how many events it replayed.
        var recoveries: [(recovered: Bool, count: Int)] = []
        /// Close codes of server close frames (nil: the TCP connection ended without one).
        var closes: [UInt16?] = []
        /// Frames of a type the test does not expect (errors and the like).
        var unexpected: [String] = []
        /// The offset a reconnect resumes from.
        var lastOffset: String?
        /// Whether a connection is established (its `connected` frame arrived) right now.
        var isConnected = false
        /// Set when reconnecting gave up.
        var failure: String?
        /// Every frame and reconnect in order, compactly, for failure messages.
        var trace: [String] = []
    }

    let account: String
    private let port: Int
    private let basePath: String
    // `recorded` and `runner` are guarded by `lock`; everything else is immutable.
    private let lock = NSLock()
    private var recorded = Record()
    private var runner: Task<Void, Never>?

    /// - Parameters:
    ///   - account: The token's account.
    ///   - token: The client token.
    ///   - viaAccountPath: `/ws/accounts/{account}/` (hashed by the load balancer) rather than `/ws`.
    ///   - port: The load balancer's port.
    init(account: String, token: String, viaAccountPath: Bool, port: Int) {
        self.account = account
        self.port = port
        self.basePath = (viaAccountPath ? "/ws/accounts/\(account)/" : "/ws") + "?token=\(token)"
    }

    /// A copy of everything recorded so far.
    var record: Record { lock.withLock { recorded } }

    private func update<Result>(_ body: (inout Record) -> Result) -> Result {
        lock.withLock { body(&recorded) }
    }

    /// Connects (retrying like a reconnect) and starts receiving; returns once the `connected` frame arrived.
    func start() async throws {
        guard let client = await connect() else {
            throw ClusterTestFailure("client of \(account) could not connect: \(record.failure ?? "?")")
        }
        let task = Task { await self.receiveLoop(client) }
        lock.withLock { runner = task }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if !record.nodes.isEmpty { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ClusterTestFailure("client of \(account): no connected frame within 20 s")
    }

    /// Stops reconnecting and closes the connection.
    func stop() async {
        let task = lock.withLock {
            defer { runner = nil }
            return runner
        }
        task?.cancel()
        await task?.value
    }

    /// Stops every client at once (each stop waits for its receive timeout and close handshake).
    static func stopAll(_ clients: [ResumingClient]) async {
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask { await client.stop() }
            }
        }
    }

    // MARK: Receiving

    private func receiveLoop(_ first: TestWebSocketClient) async {
        var client = first
        var lastSent = ContinuousClock.now
        while !Task.isCancelled {
            do {
                let message = try await client.receive(timeout: .seconds(1))
                handle(message)
            } catch let error as TestWebSocketClientError where error.code == .timedOut {
                // Nothing arrived: fall through to the ping below.
            } catch {
                // The connection has ended (after a close frame, or without one).
                update { $0.isConnected = false }
                guard !Task.isCancelled, let next = await connect() else { break }
                client = next
                lastSent = .now
                continue
            }
            if ContinuousClock.now - lastSent > .seconds(10) {
                // The node closes connections silent for two heartbeats (60 s by default).
                try? await client.sendText(#"{"type":"ping"}"#)
                lastSent = .now
            }
        }
        await client.close()
        update { $0.isConnected = false }
    }

    private func handle(_ message: TestWebSocketMessage) {
        switch message {
        case .close(let code, _):
            update {
                $0.closes.append(code)
                $0.trace.append("close \(code.map(String.init) ?? "-")")
            }
        case .text:
            guard let json = message.json, let type = json["type"] as? String else {
                update { $0.unexpected.append("\(message)") }
                return
            }
            update { record in
                switch type {
                case "connected":
                    record.nodes.append(json["node"] as? String ?? "?")
                    record.isConnected = true
                    record.trace.append("connected \(json["node"] as? String ?? "?") offset \(json["offset"] as? String ?? "-")")
                    // Only the very first connect adopts the account's position: a resumed connection
                    // must keep the offset it resumes from until the replay has delivered newer events.
                    if record.lastOffset == nil { record.lastOffset = json["offset"] as? String }
                case "recovery":
                    record.recoveries.append((json["recovered"] as? Bool ?? false, json["count"] as? Int ?? -1))
                    record.trace.append("recovery \(json["recovered"] as? Bool ?? false) \(json["count"] as? Int ?? -1)")
                case "pong", "presence.join", "presence.leave":
                    break
                case ReceivedEvent.type:
                    guard let event = ReceivedEvent(json: json) else {
                        record.unexpected.append("\(json)")
                        return
                    }
                    record.events.append(event)
                    record.trace.append("\(event)")
                    if let offset = event.offset { record.lastOffset = offset }
                default:
                    record.unexpected.append("\(json)")
                }
            }
        case .binary, .pong:
            update { $0.unexpected.append("\(message)") }
        }
    }

    // MARK: Connecting

    /// Opens a connection through the load balancer, with `since` once the client has an offset. Retries up
    /// to 40 times, backing off from 50 ms doubling to 1 s with jitter; nil when every try failed.
    private func connect() async -> TestWebSocketClient? {
        var delay = 50.0
        var lastError = ""
        for _ in 0..<40 {
            if Task.isCancelled { return nil }
            var path = basePath
            if let since = record.lastOffset {
                path += "&since=" + (since.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? since)
            }
            do {
                let client = try await TestWebSocketClient.connect(port: port, path: path, timeout: .seconds(5))
                update { $0.trace.append("connect since \($0.lastOffset ?? "-")") }
                return client
            } catch {
                lastError = "\(error)"
            }
            try? await Task.sleep(for: .milliseconds(Int(delay * Double.random(in: 0.5...1.0))))
            delay = min(delay * 2, 1000)
        }
        update { $0.failure = "gave up reconnecting: \(lastError)" }
        return nil
    }
}
