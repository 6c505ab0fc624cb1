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
    /// A roster read from the store, shared by every `presence.get` within the staleness bound.
    private struct Roster {
        var readAt: NIODeadline
        var users: EventLoopFuture<[PresenceUser]>
    }

    private struct State {
        var members: [String: Set<PresenceMember>] = [:]
        var rosters: [String: Roster] = [:]
        var typingSweeps: Set<String> = []
        var heartbeat: RepeatedTask?
        /// Set by ``stop()``: no sweep is scheduled after it (the loop may be shutting down, and
        /// scheduling on a loop that has shut down leaks a promise, which crashes debug builds).
        var stopped = false
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
        state.withLockedValue {
            $0.heartbeat?.cancel()
            $0.stopped = true
        }
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
        let now = NIODeadline.now()
        state.withLockedValue { state in
            // Cached rosters are only worth keeping within their staleness bound.
            state.rosters = state.rosters.filter { now - $0.value.readAt < Self.rosterStaleness }
        }
        for (account, members) in state.withLockedValue({ $0.members }) {
            report(store.heartbeat(account: account, members: Array(members)), "presence heartbeat")
        }
    }

    /// How stale a cached roster may be: `presence.get` floods cost one store read per account
    /// per this interval, whatever the number of clients asking.
    static let rosterStaleness = TimeAmount.seconds(1)
    /// Rosters kept before stale ones are dropped early (the HTTP API can ask for any account).
    static let maxCachedRosters = 10_000

    /// The account's users, read from the store at most once per ``rosterStaleness`` (a read in
    /// flight is shared too); a failed read is not kept.
    func users(account: String, now: NIODeadline = .now()) -> EventLoopFuture<[PresenceUser]> {
        let (future, isNew) = state.withLockedValue { state -> (EventLoopFuture<[PresenceUser]>, Bool) in
            if let roster = state.rosters[account], now - roster.readAt < Self.rosterStaleness { return (roster.users, false) }
            if state.rosters.count >= Self.maxCachedRosters {
                state.rosters = state.rosters.filter { now - $0.value.readAt < Self.rosterStaleness }
            }
            let users = store.users(account: account)
            state.rosters[account] = Roster(readAt: now, users: users)
            return (users, true)
        }
        if isNew {
            future.whenFailure { _ in
                self.state.withLockedValue { state in
                    if state.rosters[account]?.readAt == now { state.rosters[account] = nil }
                }
            }
        }
        return future
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
        guard !state.withLockedValue({ $0.stopped }) else { return }
        eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
            self.store.sweepTyping(account: account, echo: self.typingEcho).whenComplete { result in
                switch result {
                case .success(let next?):
                    self.scheduleSweep(account: account, in: next + 50)
                case .success(nil):
                    self.state.withLockedValue { _ = $0.typingSweeps.remove(account) }
                case .failure(let error as EventLoopError) where error == .shutdown:
                    return  // the loop is gone: nothing to retry on
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
