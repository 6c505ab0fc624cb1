import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Presence and typing for a single node without Redis, with the same rules and events as the
/// Redis functions; the clock is injected so tests control expiry.
public final class MemoryPresenceStore: PresenceStore {
    private struct AccountState {
        var expiries: [PresenceMember: TimeAmountMilliseconds] = [:]
        var roster = PresenceRoster()
        var info: [String: String] = [:]
        var typing: [TypingKey: TimeAmountMilliseconds] = [:]
    }

    private struct TypingKey: Hashable {
        var conversation: String
        var user: String
    }

    private let eventLoop: EventLoop
    private let timing: PresenceTiming
    private let now: @Sendable () -> TimeAmountMilliseconds
    private let publish: @Sendable (_ account: String, _ event: ByteBuffer) -> Void
    private let accounts = NIOLockedValueBox<[String: AccountState]>([:])

    /// - Parameter publish: delivers an event to the account's clients (the embedded broker, live).
    public init(
        eventLoop: EventLoop, timing: PresenceTiming,
        now: @escaping @Sendable () -> TimeAmountMilliseconds = { Int64(Date().timeIntervalSince1970 * 1000) },
        publish: @escaping @Sendable (_ account: String, _ event: ByteBuffer) -> Void
    ) {
        self.eventLoop = eventLoop
        self.timing = timing
        self.now = now
        self.publish = publish
    }

    /// Runs `change` under the lock and publishes the events it produced, in order, after it.
    private func mutate<Value: Sendable>(_ account: String, _ change: (inout AccountState, TimeAmountMilliseconds, inout [ByteBuffer]) -> Value) -> EventLoopFuture<Value> {
        var events: [ByteBuffer] = []
        let value = accounts.withLockedValue { map in
            var state = map[account] ?? AccountState()
            let value = change(&state, now(), &events)
            map[account] = state.expiries.isEmpty && state.typing.isEmpty ? nil : state
            return value
        }
        for event in events { publish(account, event) }
        return eventLoop.makeSucceededFuture(value)
    }

    public func join(account: String, member: PresenceMember, info: String?) -> EventLoopFuture<Void> {
        let ttl = timing.entryTTL
        return mutate(account) { state, now, events in
            if let info, !info.isEmpty { state.info[member.user] = info }
            if state.expiries.updateValue(now + ttl, forKey: member) == nil {
                Self.arrived(member, in: &state, events: &events)
            }
        }
    }

    public func leave(account: String, member: PresenceMember) -> EventLoopFuture<Void> {
        mutate(account) { state, _, events in
            if state.expiries.removeValue(forKey: member) != nil { Self.departed(member, in: &state, events: &events) }
        }
    }

    public func heartbeat(account: String, members: [PresenceMember]) -> EventLoopFuture<Void> {
        let ttl = timing.entryTTL
        return mutate(account) { state, now, events in
            for member in members where state.expiries.updateValue(now + ttl, forKey: member) == nil {
                Self.arrived(member, in: &state, events: &events)
            }
            for (member, expiry) in state.expiries where expiry <= now {
                state.expiries[member] = nil
                Self.departed(member, in: &state, events: &events)
            }
        }
    }

    public func users(account: String) -> EventLoopFuture<[PresenceUser]> {
        let now = self.now()
        let state = accounts.withLockedValue { $0[account] } ?? AccountState()
        var counts: [String: Int] = [:]
        for (member, expiry) in state.expiries where expiry > now { counts[member.user, default: 0] += 1 }
        let users = counts.keys.sorted().map { PresenceUser(user: $0, connections: counts[$0]!, info: state.info[$0]) }
        return eventLoop.makeSucceededFuture(users)
    }

    public func startTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool> {
        let ttl = timing.typingTTL
        return mutate(account) { state, now, events in
            let started = state.typing.updateValue(now + ttl, forKey: TypingKey(conversation: conversation, user: user)) == nil
            if started { events.append(Self.typingEvent("typing.start", conversation: conversation, user: user, echo: echo)) }
            return started
        }
    }

    public func stopTyping(account: String, conversation: String, user: String, echo: Bool) -> EventLoopFuture<Bool> {
        mutate(account) { state, _, events in
            let stopped = state.typing.removeValue(forKey: TypingKey(conversation: conversation, user: user)) != nil
            if stopped { events.append(Self.typingEvent("typing.stop", conversation: conversation, user: user, echo: echo)) }
            return stopped
        }
    }

    public func flush() -> EventLoopFuture<Void> {
        eventLoop.makeSucceededVoidFuture()
    }

    public func sweepTyping(account: String, echo: Bool) -> EventLoopFuture<TimeAmountMilliseconds?> {
        mutate(account) { state, now, events in
            for (key, expiry) in state.typing.sorted(by: { $0.value < $1.value }) where expiry <= now {
                state.typing[key] = nil
                events.append(Self.typingEvent("typing.stop", conversation: key.conversation, user: key.user, echo: echo))
            }
            return state.typing.values.min().map { max(0, $0 - now) }
        }
    }

    private static func arrived(_ member: PresenceMember, in state: inout AccountState, events: inout [ByteBuffer]) {
        guard case .joined? = state.roster.connect(user: member.user, connection: member.connection) else { return }
        var data: [String: Any] = ["user": member.user]
        if let info = state.info[member.user], let object = try? JSONSerialization.jsonObject(with: Data(info.utf8), options: [.fragmentsAllowed]) {
            data["info"] = object
        }
        events.append(event(["type": "presence.join", "data": data]))
    }

    private static func departed(_ member: PresenceMember, in state: inout AccountState, events: inout [ByteBuffer]) {
        guard case .left? = state.roster.disconnect(user: member.user, connection: member.connection) else { return }
        state.info[member.user] = nil
        events.append(event(["type": "presence.leave", "data": ["user": member.user]]))
    }

    private static func typingEvent(_ type: String, conversation: String, user: String, echo: Bool) -> ByteBuffer {
        var fields: [String: Any] = ["type": type, "data": ["conversation_id": conversation, "user": user]]
        if !echo { fields["exclude_user"] = user }
        return event(fields)
    }

    private static func event(_ fields: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: fields, options: [.withoutEscapingSlashes])) ?? Data())
    }
}
