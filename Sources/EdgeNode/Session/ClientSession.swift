import HeraldProtocol
import NIOCore

/// The client protocol of one connection as a value: feed it each text message and carry out
/// the actions it returns. It holds the connection's sub-channels and flood control, and knows
/// nothing of channels or sockets.
struct ClientSession: Sendable {
    enum Action: Equatable, Sendable {
        case send(ServerMessage)
        /// The answer to a bare-text `ping`.
        case sendBareText(String)
        /// Join a sub-channel; `since` is the client's own recovery point for it, if it gave one.
        /// The `ack` (when `ref` is set) is the handler's to send, once the channel's missed
        /// events have been delivered.
        case subscribe(channel: String, since: String? = nil, ref: MessageReference? = nil)
        /// Replay history after `since` (the raw offset text; the handler validates it).
        case resume(since: String, ref: MessageReference?)
        /// Start (or keep alive) this user's typing state in a conversation.
        case startTyping(conversation: String)
        case stopTyping(conversation: String)
        /// Answer with `presence.state`.
        case queryPresence(ref: MessageReference?)
        /// Verify `token`; when it names this connection's account and user, the connection
        /// expires with it instead (answered with `refreshed`), else an `error`.
        case refresh(token: String, ref: MessageReference?)
        case unsubscribe(channel: String)
        /// Hand the message to the backend; answer with `ack` (when `id` is set), `reply` or an error.
        /// `data` is the JSON text of the message's `data` as sent (`null` when absent).
        case upstream(type: String, id: MessageReference?, data: [UInt8])
        case close(CloseCode, reason: String)
    }

    let identity: ClientIdentity
    let maxSubscriptions: Int
    private(set) var subscriptions: Set<String> = []
    private var limiter: MessageRateLimiter
    /// When each conversation's typing state was last sent on; repeated starts within a third
    /// of the typing TTL cost nothing beyond this check.
    private var typingRefreshed: [String: NIODeadline] = [:]
    private let typingRefreshInterval: TimeAmount
    /// A typing state not refreshed for this long has ended in the store, and leaves the cap.
    private let typingTTL: TimeAmount
    /// When the last resume was accepted; another within ``resumeInterval`` is refused.
    private var lastResume: NIODeadline?
    private let resumeInterval: TimeAmount
    /// Subscription changes and resumes received while a replay runs, handled after it in order.
    private var deferred: [ClientMessage] = []
    /// What goes upstream; nil when the node has no upstream (other types get `unknown_type`).
    private let upstream: UpstreamPolicy?

    /// Set while a replay runs: `subscribe`, `unsubscribe` and `resume` wait for its end, so a
    /// replay never runs against a subscription set that changes under it.
    var defersSubscriptionChanges = false

    /// The least time between two resumes of one connection: each can read the whole window.
    static let defaultResumeInterval = TimeAmount.seconds(1)

    /// Conversations one connection may be typing in at once.
    static let maxTypingConversations = 16
    /// Subscription changes and resumes that may wait for a running replay.
    static let maxDeferredMessages = 64

    init(
        identity: ClientIdentity, maxSubscriptions: Int, messagesPerSecond: Int, burst: Int, now: NIODeadline,
        typingTTL: TimeAmount = .seconds(3), channels: Set<String> = [], resumeInterval: TimeAmount = Self.defaultResumeInterval,
        upstream: UpstreamPolicy? = nil
    ) {
        self.identity = identity
        self.upstream = upstream
        self.maxSubscriptions = maxSubscriptions
        self.subscriptions = channels
        self.typingRefreshInterval = .nanoseconds(typingTTL.nanoseconds / 3)
        self.typingTTL = typingTTL
        self.resumeInterval = resumeInterval
        self.limiter = MessageRateLimiter(perSecond: messagesPerSecond, burst: burst, now: now)
    }

    /// What to do with a transport-level ping (a WebSocket ping frame).
    enum PingAdmission: Equatable, Sendable {
        case answer
        /// Over the rate: not answered.
        case drop
        /// A flood that ignored the limit: end the connection.
        case close(CloseCode, reason: String)
    }

    /// Counts a transport-level ping against flood control like any message, so pings cannot
    /// make the node write without bound.
    mutating func admitPing(now: NIODeadline) -> PingAdmission {
        switch limiter.admit(now: now) {
        case .allow: return .answer
        case .refuse: return .drop
        case .disconnect: return .close(.policyViolation, reason: "ping flood")
        }
    }

    /// Handles one complete text message.
    mutating func receive(text: some Collection<UInt8>, now: NIODeadline) -> [Action] {
        switch limiter.admit(now: now) {
        case .allow:
            break
        case .refuse(let report):
            return report ? [.send(.error(code: .rateLimited, message: "too many messages: slow down", ref: nil))] : []
        case .disconnect:
            return [.close(.policyViolation, reason: "message flood")]
        }
        if text.elementsEqual("ping".utf8) { return [.sendBareText("pong")] }
        guard let message = ClientMessage.decode(text) else {
            return [.send(.error(code: .malformedMessage, message: "expected a JSON object with a string 'type'", ref: ClientMessage.reference(in: text)))]
        }
        guard Self.ownTypes.contains(message.type) else { return forward(message, text: text) }
        if defersSubscriptionChanges, Self.deferrableTypes.contains(message.type) {
            guard deferred.count < Self.maxDeferredMessages else {
                return [.send(.error(code: .rateLimited, message: "too many subscription changes during a recovery", ref: message.id))]
            }
            deferred.append(message)
            return []
        }
        return handle(message, now: now)
    }

    private static let deferrableTypes: Set<String> = ["subscribe", "unsubscribe", "resume"]
    /// The client message types Herald handles itself; every other type is the backend's.
    private static let ownTypes: Set<String> = ["ping", "subscribe", "unsubscribe", "resume", "typing.start", "typing.stop", "presence.get", "refresh"]

    /// A message for the backend: upstream when the policy admits it, with its `data` as sent.
    /// It already passed flood control, so upstream messages count against it like any other.
    private func forward(_ message: ClientMessage, text: some Collection<UInt8>) -> [Action] {
        guard let upstream, upstream.admits(message.type) else {
            let reason = upstream == nil ? "no upstream is configured" : "the type is not sent upstream"
            return [.send(.error(code: .unknownType, message: "unknown message type '\(message.type)': \(reason)", ref: message.id))]
        }
        guard text.count <= upstream.maxMessageBytes else {
            return [.send(.error(
                code: .payloadTooLarge, message: "upstream messages are limited to \(upstream.maxMessageBytes) bytes", ref: message.id))]
        }
        switch ClientMessage.rawData(in: text) {
        case .absent:
            return [.upstream(type: message.type, id: message.id, data: Array("null".utf8))]
        case .value(let data):
            return [.upstream(type: message.type, id: message.id, data: data)]
        case .refused(let reason):
            return [.send(.error(code: .malformedMessage, message: reason, ref: message.id))]
        }
    }

    /// The oldest message deferred during a replay, to hand to ``handle(_:now:)`` once it ended.
    mutating func takeDeferred() -> ClientMessage? {
        deferred.isEmpty ? nil : deferred.removeFirst()
    }

    /// Acts on one decoded message (flood control already passed).
    mutating func handle(_ message: ClientMessage, now: NIODeadline) -> [Action] {
        switch message.type {
        case "ping":
            return [.send(.pong(ref: message.id))]
        case "subscribe":
            return subscribe(message)
        case "unsubscribe":
            return unsubscribe(message)
        case "resume":
            guard let since = message.since else {
                return [.send(.error(code: .malformedMessage, message: "'resume' needs 'since': the last offset received", ref: message.id))]
            }
            if let lastResume, now - lastResume < resumeInterval {
                return [.send(.error(code: .rateLimited, message: "one resume per \(resumeInterval.nanoseconds / 1_000_000) ms", ref: message.id))]
            }
            lastResume = now
            return [.resume(since: since, ref: message.id)]
        case "typing.start", "typing.stop":
            return typing(message, start: message.type == "typing.start", now: now)
        case "presence.get":
            return [.queryPresence(ref: message.id)]
        case "refresh":
            guard let token = message.token, !token.isEmpty else {
                return [.send(.error(code: .malformedMessage, message: "'refresh' needs 'token': the new JWT", ref: message.id))]
            }
            return [.refresh(token: token, ref: message.id)]
        default:
            // Only Herald's own types reach here (others go upstream in `receive`).
            return [.send(.error(code: .unknownType, message: "unknown message type '\(message.type)'", ref: message.id))]
        }
    }

    private mutating func typing(_ message: ClientMessage, start: Bool, now: NIODeadline) -> [Action] {
        guard let conversation = message.conversationID, ChannelName.isValid(conversation) else {
            return [.send(.error(
                code: .invalidConversation,
                message: "'conversation_id' must be a string of 1-\(ChannelName.maximumLength) printable characters", ref: message.id))]
        }
        var actions: [Action] = []
        if start {
            if let last = typingRefreshed[conversation], now - last < typingRefreshInterval {
                // Still fresh in the store: nothing to send.
            } else {
                if typingRefreshed[conversation] == nil, typingRefreshed.count >= Self.maxTypingConversations {
                    // States not refreshed within the TTL have ended by themselves: they free their place.
                    typingRefreshed = typingRefreshed.filter { now - $0.value < typingTTL }
                }
                if typingRefreshed[conversation] == nil, typingRefreshed.count >= Self.maxTypingConversations {
                    return [.send(.error(code: .rateLimited, message: "typing in more than \(Self.maxTypingConversations) conversations at once", ref: message.id))]
                }
                typingRefreshed[conversation] = now
                actions.append(.startTyping(conversation: conversation))
            }
        } else {
            typingRefreshed[conversation] = nil
            actions.append(.stopTyping(conversation: conversation))
        }
        if let ref = message.id { actions.append(.send(.ack(ref: ref))) }
        return actions
    }

    private mutating func subscribe(_ message: ClientMessage) -> [Action] {
        guard let channel = message.channel, ChannelName.isValid(channel) else {
            return [.send(.error(code: .invalidChannel, message: "'channel' must be 1-\(ChannelName.maximumLength) printable characters", ref: message.id))]
        }
        guard identity.mayJoin(channel) else {
            return [.send(.error(code: .channelForbidden, message: "the token does not allow channel '\(channel)'", ref: message.id))]
        }
        if !subscriptions.contains(channel), subscriptions.count >= maxSubscriptions {
            return [.send(.error(code: .tooManySubscriptions, message: "at most \(maxSubscriptions) channels per connection", ref: message.id))]
        }
        guard subscriptions.insert(channel).inserted else {
            return message.id.map { [.send(.ack(ref: $0))] } ?? []
        }
        return [.subscribe(channel: channel, since: message.since, ref: message.id)]
    }

    private mutating func unsubscribe(_ message: ClientMessage) -> [Action] {
        guard let channel = message.channel, ChannelName.isValid(channel) else {
            return [.send(.error(code: .invalidChannel, message: "'channel' must be 1-\(ChannelName.maximumLength) printable characters", ref: message.id))]
        }
        var actions: [Action] = []
        if subscriptions.remove(channel) != nil { actions.append(.unsubscribe(channel: channel)) }
        if let ref = message.id { actions.append(.send(.ack(ref: ref))) }
        return actions
    }
}
