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
        case subscribe(channel: String)
        /// Replay history after `since` (the raw offset text; the handler validates it).
        case resume(since: String, ref: MessageReference?)
        /// Start (or keep alive) this user's typing state in a conversation.
        case startTyping(conversation: String)
        case stopTyping(conversation: String)
        /// Answer with `presence.state`.
        case queryPresence(ref: MessageReference?)
        case unsubscribe(channel: String)
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

    /// Conversations one connection may be typing in at once.
    static let maxTypingConversations = 16

    init(
        identity: ClientIdentity, maxSubscriptions: Int, messagesPerSecond: Int, burst: Int, now: NIODeadline,
        typingTTL: TimeAmount = .seconds(3)
    ) {
        self.identity = identity
        self.maxSubscriptions = maxSubscriptions
        self.typingRefreshInterval = .nanoseconds(typingTTL.nanoseconds / 3)
        self.limiter = MessageRateLimiter(perSecond: messagesPerSecond, burst: burst, now: now)
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
            return [.resume(since: since, ref: message.id)]
        case "typing.start", "typing.stop":
            return typing(message, start: message.type == "typing.start", now: now)
        case "presence.get":
            return [.queryPresence(ref: message.id)]
        default:
            return [.send(.error(code: .unknownType, message: "unknown message type '\(message.type)' and no upstream is configured", ref: message.id))]
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
        var actions: [Action] = []
        if !subscriptions.contains(channel) {
            guard subscriptions.count < maxSubscriptions else {
                return [.send(.error(code: .tooManySubscriptions, message: "at most \(maxSubscriptions) channels per connection", ref: message.id))]
            }
            subscriptions.insert(channel)
            actions.append(.subscribe(channel: channel))
        }
        if let ref = message.id { actions.append(.send(.ack(ref: ref))) }
        return actions
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
