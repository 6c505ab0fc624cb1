import Foundation
import HeraldProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Presence

/// This node's part in presence and typing: it reports its connections to the store, refreshes
/// them in one call per account per interval (which also sweeps a dead node's entries), and sweeps
/// expired typing states of accounts where typing was seen, so every state ends with its event.
final class PresenceTracker: Sendable {
    private struct State {
        var members: [String: Set<PresenceMember>] = [:]
        var typingSweeps: Set<String> = []
        var heartbeat: RepeatedTask?
    }

    let timing: PresenceTiming
    let typingEcho: Bool
    private let store: any PresenceStore
    private let eventLoop: EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(store: any PresenceStore, timing: PresenceTiming, typingEcho: Bool, eventLoop: EventLoop, logger: Logger) {
        self.store = store
        self.timing = timing
        self.typingEcho = typingEcho
        self.eventLoop = eventLoop
        self.logger = logger
    }

    func start() {
        let interval = TimeAmount.milliseconds(timing.refreshInterval)
        let task = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in self.heartbeat() }
        state.withLockedValue { $0.heartbeat = task }
    }

    /// Stops refreshing and waits until the leaves of closed connections reached the store.
    func stop() -> EventLoopFuture<Void> {
        state.withLockedValue { $0.heartbeat?.cancel() }
        return store.flush()
    }

    func connected(account: String, member: PresenceMember, info: String?) {
        state.withLockedValue { _ = $0.members[account, default: []].insert(member) }
        report(store.join(account: account, member: member, info: info), "presence join")
    }

    func disconnected(account: String, member: PresenceMember) {
        state.withLockedValue { state in
            state.members[account]?.remove(member)
            if state.members[account]?.isEmpty == true { state.members[account] = nil }
        }
        report(store.leave(account: account, member: member), "presence leave")
    }

    /// One refresh-and-sweep call per account this node holds.
    func heartbeat() {
        for (account, members) in state.withLockedValue({ $0.members }) {
            report(store.heartbeat(account: account, members: Array(members)), "presence heartbeat")
        }
    }

    func users(account: String) -> EventLoopFuture<[PresenceUser]> {
        store.users(account: account)
    }

    func startTyping(account: String, conversation: String, user: String) {
        report(store.startTyping(account: account, conversation: conversation, user: user, echo: typingEcho), "typing start")
    }

    func stopTyping(account: String, conversation: String, user: String) {
        report(store.stopTyping(account: account, conversation: conversation, user: user, echo: typingEcho), "typing stop")
    }

    /// A `typing.start` reached this node: sweep the account when that state could expire.
    func typingSeen(account: String) {
        let first = state.withLockedValue { $0.typingSweeps.insert(account).inserted }
        guard first else { return }
        scheduleSweep(account: account, in: timing.typingTTL + 50)
    }

    private func scheduleSweep(account: String, in milliseconds: TimeAmountMilliseconds) {
        eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
            self.store.sweepTyping(account: account, echo: self.typingEcho).whenComplete { result in
                switch result {
                case .success(let next?):
                    self.scheduleSweep(account: account, in: next + 50)
                case .success(nil):
                    self.state.withLockedValue { _ = $0.typingSweeps.remove(account) }
                case .failure(let error):
                    self.logger.debug("typing sweep failed; retrying", metadata: ["account": "\(account)", "error": "\(error)"])
                    self.scheduleSweep(account: account, in: 500)
                }
            }
        }
    }

    /// A present user as the wire protocol shows it.
    static func entry(_ user: PresenceUser) -> ServerMessage.PresenceEntry {
        let info = user.info.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        return ServerMessage.PresenceEntry(user: user.user, connections: user.connections, info: info)
    }

    /// The `info` claim as the JSON text the store keeps.
    static func infoText(_ info: JSONValue?) -> String? {
        guard let info else { return nil }
        return (try? JSONEncoder().encode(info)).map { String(decoding: $0, as: UTF8.self) }
    }

    private func report<Value>(_ future: EventLoopFuture<Value>, _ what: String) {
        future.whenFailure { error in
            self.logger.debug("\(what) failed; the next heartbeat repairs presence", metadata: ["error": "\(error)"])
        }
    }
}
