import Foundation
import HeraldTestSupport

/// A WebSocket client that keeps every frame it receives, read by a background task, so a test can
/// publish for a while and then check what each client got: test events (`cluster.event`, with
/// their `seq` and `offset`), `recovery` frames, and anything else by type.
final class RecordingClient: @unchecked Sendable {
    /// One test event as received.
    struct Event: Equatable, Sendable {
        var seq: Int
        var offset: String?
    }

    static let eventType = "cluster.event"

    let account: String
    let node: RunningNode
    // `recorded`, `frames` and `recoveries` are guarded by `lock`.
    private let lock = NSLock()
    private var recorded: [Event] = []
    private var frames: [[String: Any]] = []
    private var recoveryFlags: [Bool] = []
    private let client: TestWebSocketClient
    private var reader: Task<Void, Never>?

    private init(account: String, node: RunningNode, client: TestWebSocketClient) {
        self.account = account
        self.node = node
        self.client = client
    }

    /// Connects (after the `connected` frame) and starts recording.
    static func connect(to node: RunningNode, account: String, user: String = "u1", since: String? = nil) async throws -> RecordingClient {
        let token = try await Fixture.token(account: account, user: user)
        let path = "/ws?token=\(token)" + (since.map { "&since=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? "")
        let socket = try await node.connect(token: token, path: path)
        let client = RecordingClient(account: account, node: node, client: socket)
        client.reader = Task { await client.read() }
        return client
    }

    private func read() async {
        for _ in 0..<1_000_000 {
            guard !Task.isCancelled, !client.isClosed else { return }
            do {
                let message = try await client.receive(timeout: .milliseconds(500))
                guard let json = message.json, let type = json["type"] as? String else { continue }
                lock.withLock {
                    switch type {
                    case Self.eventType:
                        if let data = json["data"] as? [String: Any], let seq = data["seq"] as? Int {
                            recorded.append(Event(seq: seq, offset: json["offset"] as? String))
                        }
                    case "recovery":
                        recoveryFlags.append(json["recovered"] as? Bool ?? false)
                    default:
                        frames.append(json)
                    }
                }
            } catch let error as TestWebSocketClientError where error.code == .timedOut {
                continue
            } catch {
                return
            }
        }
    }

    var events: [Event] { lock.withLock { recorded } }
    /// Offsets of the events received with one, in arrival order.
    var offsets: [String] { events.compactMap(\.offset) }
    /// The `recovered` flag of every `recovery` frame.
    var recoveries: [Bool] { lock.withLock { recoveryFlags } }
    /// Frames of other types, in order.
    func frames(ofType type: String) -> [[String: Any]] { lock.withLock { frames.filter { $0["type"] as? String == type } } }

    func send(_ text: String) async throws {
        try await client.sendText(text)
    }

    func close() async {
        reader?.cancel()
        await reader?.value
        await client.close()
    }
}
