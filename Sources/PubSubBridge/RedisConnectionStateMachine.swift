import NIOCore

/// Matches replies to requests on one Redis connection, in FIFO order, and decides when Redis is overdue.
///
/// A connection starts in command mode, where every reply answers the oldest pending request.
/// After the first SUBSCRIBE it is in subscription mode: once the replies to earlier requests
/// have arrived, every further reply is a pub/sub push, except the confirmations, errors and `pong`s
/// that answer what this connection sent, which are matched here too.
///
/// Time is passed in: every request gets a deadline (`commandTimeout` after it was sent), and ``tick(now:)``
/// reports a request past its deadline (the caller closes the connection) or, once nothing has been heard
/// for `keepaliveInterval` and nothing is in flight, asks for a `PING`. ``nextWakeup`` says when to tick.
/// Generic over the pending request so it can be tested without promises or sockets.
struct RedisConnectionStateMachine<Pending> {
    private enum State {
        case commands
        case subscriptions
        case closed(RedisError)
    }

    /// Who is waiting for a reply in command mode.
    private enum Waiter {
        case request(Pending)
        case keepalive
    }

    private struct Entry {
        var waiter: Waiter
        var deadline: NIODeadline
    }

    /// What a subscription-mode command waits for: one confirmation push per channel, or a `pong`.
    private enum Awaited {
        case subscription(command: SubscriptionCommand, channels: [String], unconfirmed: Int)
        case pong
    }

    private struct AwaitedEntry {
        var awaited: Awaited
        var deadline: NIODeadline
    }

    /// The pub/sub commands whose confirmations are tracked (sharded or not: `SSUBSCRIBE` is a subscribe).
    enum SubscriptionCommand: Equatable {
        case subscribe
        case unsubscribe
    }

    enum SendAction {
        /// Write the command to the socket.
        case write
        /// Do not write; fail the request.
        case fail(RedisError)
    }

    enum ReplyAction {
        case succeed(Pending, RESPValue)
        /// An error reply to a request.
        case fail(Pending, RedisError)
        /// A pub/sub push (subscribe confirmation, message) for the subscription handler.
        case push(RESPValue)
        /// Redis answered a SUBSCRIBE with an error (e.g. an ACL `NOPERM`): none of these channels is subscribed.
        case subscriptionRefused(channels: [String], RedisError)
        /// A reply nobody asked for: close the connection with this error.
        case closeConnection(RedisError)
        /// Nothing for the caller: a keepalive answer, or a reply on a closed connection.
        case ignore
    }

    enum TimerAction: Equatable {
        case none
        /// Write `PING`; its answer is expected within the command timeout.
        case sendKeepalive
        /// Redis missed a deadline: close the connection, failing everything pending with this error.
        case closeConnection(RedisError)
    }

    /// How long Redis may take to answer anything sent.
    let commandTimeout: TimeAmount
    /// Silence after which an idle connection sends `PING`; nil for never.
    let keepaliveInterval: TimeAmount?
    /// The most requests that may wait for replies at once.
    let maxPending: Int

    private var state: State = .commands
    private var pending: CircularBuffer<Entry> = CircularBuffer(initialCapacity: 16)
    /// Subscription-mode commands (SUBSCRIBE, UNSUBSCRIBE, PING) not yet fully answered, in the order sent.
    private var awaiting: CircularBuffer<AwaitedEntry> = CircularBuffer(initialCapacity: 4)
    /// When Redis was last heard from (or the connection came up); nil until ``connected(now:)``.
    private var lastHeard: NIODeadline?

    init(commandTimeout: TimeAmount = .seconds(2), keepaliveInterval: TimeAmount? = .seconds(1), maxPending: Int = 10_000) {
        precondition(commandTimeout > .zero, "commandTimeout must be positive")
        precondition(maxPending > 0, "maxPending must be positive")
        self.commandTimeout = commandTimeout
        self.keepaliveInterval = keepaliveInterval.flatMap { $0 > .zero ? $0 : nil }
        self.maxPending = maxPending
    }

    /// The number of requests waiting for a reply.
    var pendingCount: Int {
        self.pending.count
    }

    var isInSubscriptionMode: Bool {
        if case .subscriptions = self.state { return true }
        return false
    }

    /// The connection is open: the keepalive clock starts now.
    mutating func connected(now: NIODeadline) {
        if case .closed = self.state { return }
        self.lastHeard = now
    }

    /// A command that expects exactly one reply.
    mutating func sendCommand(_ request: Pending, now: NIODeadline) -> SendAction {
        switch self.state {
        case .commands:
            guard self.pending.count < self.maxPending else {
                return .fail(.tooManyPendingCommands(limit: self.maxPending))
            }
            self.pending.append(Entry(waiter: .request(request), deadline: now + self.commandTimeout))
            return .write
        case .subscriptions:
            return .fail(.unsupportedInSubscriptionMode)
        case .closed(let error):
            return .fail(error)
        }
    }

    /// SUBSCRIBE or UNSUBSCRIBE of `channels` (at least one), whose replies arrive as pushes, one per channel;
    /// switches the connection to subscription mode.
    mutating func sendSubscriptionCommand(_ command: SubscriptionCommand, channels: [String], now: NIODeadline) -> SendAction {
        switch self.state {
        case .commands, .subscriptions:
            guard self.awaiting.count < self.maxPending else {
                return .fail(.tooManyPendingCommands(limit: self.maxPending))
            }
            self.state = .subscriptions
            if !channels.isEmpty {
                self.awaiting.append(AwaitedEntry(
                    awaited: .subscription(command: command, channels: channels, unconfirmed: channels.count),
                    deadline: now + self.commandTimeout))
            }
            return .write
        case .closed(let error):
            return .fail(error)
        }
    }

    mutating func receive(_ reply: RESPValue, now: NIODeadline) -> ReplyAction {
        switch self.state {
        case .closed:
            return .ignore
        case .commands, .subscriptions:
            self.lastHeard = now
            if let entry = self.pending.popFirst() {
                switch entry.waiter {
                case .keepalive:
                    // PONG, or an error (an ACL without PING): either way Redis answered in time.
                    return .ignore
                case .request(let request):
                    if case .error(let message) = reply {
                        return .fail(request, .serverError(message))
                    }
                    return .succeed(request, reply)
                }
            }
            if case .subscriptions = self.state {
                return self.receivePush(reply)
            }
            return .closeConnection(.protocolError("received a reply with no command waiting for it: \(reply)"))
        }
    }

    /// A reply in subscription mode: messages pass through; confirmations, `pong`s and errors answer `awaiting`.
    private mutating func receivePush(_ reply: RESPValue) -> ReplyAction {
        switch PushKind(reply) {
        case .message, .other:
            return .push(reply)
        case .confirmation(let subscribe, let channel):
            let confirmed: SubscriptionCommand = subscribe ? .subscribe : .unsubscribe
            // A confirmation answers the oldest command of its kind that named its channel; a sharded
            // `sunsubscribe` Redis sends on its own (the slot moved away) answers nothing.
            if let index = self.awaiting.firstIndex(where: { entry in
                guard case .subscription(let command, let channels, _) = entry.awaited, command == confirmed else { return false }
                return channel.map { channels.contains($0) } ?? true
            }),
                case .subscription(let command, let channels, let unconfirmed) = self.awaiting[index].awaited
            {
                if unconfirmed <= 1 {
                    self.awaiting.remove(at: index)
                } else {
                    self.awaiting[index].awaited = .subscription(command: command, channels: channels, unconfirmed: unconfirmed - 1)
                }
            }
            return .push(reply)
        case .pong:
            if let index = self.awaiting.firstIndex(where: { if case .pong = $0.awaited { true } else { false } }) {
                self.awaiting.remove(at: index)
                return .ignore
            }
            return .push(reply)
        case .error(let message):
            // Redis answers in order, so an error answers the oldest command still waiting.
            guard let entry = self.awaiting.popFirst() else { return .push(reply) }
            switch entry.awaited {
            case .subscription(.subscribe, let channels, let unconfirmed) where unconfirmed == channels.count:
                return .subscriptionRefused(channels: channels, .serverError(message))
            case .subscription, .pong:
                return .push(reply)
            }
        }
    }

    /// Checks the deadlines at `now`: the caller calls this at ``nextWakeup`` (earlier is harmless).
    mutating func tick(now: NIODeadline) -> TimerAction {
        if case .closed = self.state { return .none }
        if let head = self.pending.first, head.deadline <= now {
            switch head.waiter {
            case .keepalive:
                return .closeConnection(.timeout("Redis did not answer PING within \(Self.describe(self.commandTimeout))"))
            case .request:
                return .closeConnection(.timeout(
                    "Redis did not answer within \(Self.describe(self.commandTimeout)); the connection was closed to reconnect, "
                        + "and the command may or may not have run"))
            }
        }
        if let head = self.awaiting.first, head.deadline <= now {
            switch head.awaited {
            case .pong:
                return .closeConnection(.timeout("Redis did not answer PING within \(Self.describe(self.commandTimeout))"))
            case .subscription(let command, _, _):
                return .closeConnection(.timeout(
                    "Redis did not confirm \(command == .subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE") within \(Self.describe(self.commandTimeout))"))
            }
        }
        guard let keepaliveDue = self.keepaliveDue, keepaliveDue <= now else { return .none }
        switch self.state {
        case .commands:
            self.pending.append(Entry(waiter: .keepalive, deadline: now + self.commandTimeout))
        case .subscriptions:
            self.awaiting.append(AwaitedEntry(awaited: .pong, deadline: now + self.commandTimeout))
        case .closed:
            return .none
        }
        return .sendKeepalive
    }

    /// When ``tick(now:)`` next has something to do: the oldest deadline, or when a keepalive falls due.
    /// Later requests only add later deadlines; only becoming ``isIdle`` can bring it forward (to the keepalive).
    var nextWakeup: NIODeadline? {
        if case .closed = self.state { return nil }
        if let keepaliveDue = self.keepaliveDue { return keepaliveDue }
        switch (self.pending.first?.deadline, self.awaiting.first?.deadline) {
        case (let command?, let subscription?): return min(command, subscription)
        case (let command?, nil): return command
        case (nil, let subscription?): return subscription
        case (nil, nil): return nil
        }
    }

    /// Nothing is waiting for an answer.
    var isIdle: Bool {
        self.pending.isEmpty && self.awaiting.isEmpty
    }

    /// When an idle connection should send PING: only when nothing is in flight.
    private var keepaliveDue: NIODeadline? {
        guard let interval = self.keepaliveInterval, let lastHeard = self.lastHeard,
            self.pending.isEmpty, self.awaiting.isEmpty
        else { return nil }
        return lastHeard + interval
    }

    /// Marks the connection closed and returns the requests that will never get a reply.
    mutating func close(error: RedisError) -> [Pending] {
        if case .closed = self.state {
            return []
        }
        self.state = .closed(error)
        defer {
            self.pending.removeAll()
            self.awaiting.removeAll()
        }
        return self.pending.compactMap { entry in
            if case .request(let request) = entry.waiter { return request }
            return nil
        }
    }

    private static func describe(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}

/// The kind of a reply in subscription mode, read from its first element without decoding the rest.
private enum PushKind {
    case message
    case confirmation(subscribe: Bool, channel: String?)
    case pong
    case error(String)
    case other

    init(_ reply: RESPValue) {
        switch reply {
        case .error(let message):
            self = .error(message)
        case .simpleString("PONG"):
            // A connection whose last channel was unsubscribed is back in RESP2's normal context.
            self = .pong
        case .array(let elements):
            guard case .bulkString(let kind)? = elements.first else {
                self = .other
                return
            }
            let bytes = kind.readableBytesView
            if bytes.elementsEqual("message".utf8) || bytes.elementsEqual("smessage".utf8) {
                self = .message
            } else if bytes.elementsEqual("subscribe".utf8) || bytes.elementsEqual("ssubscribe".utf8) {
                self = .confirmation(subscribe: true, channel: elements.count > 1 ? elements[1].string : nil)
            } else if bytes.elementsEqual("unsubscribe".utf8) || bytes.elementsEqual("sunsubscribe".utf8) {
                self = .confirmation(subscribe: false, channel: elements.count > 1 ? elements[1].string : nil)
            } else if bytes.elementsEqual("pong".utf8) {
                self = .pong
            } else {
                self = .other
            }
        default:
            self = .other
        }
    }
}
