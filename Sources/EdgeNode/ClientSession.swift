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
        case unsubscribe(channel: String)
        case close(CloseCode, reason: String)
    }

    let identity: ClientIdentity
    let maxSubscriptions: Int
    private(set) var subscriptions: Set<String> = []
    private var limiter: MessageRateLimiter

    init(identity: ClientIdentity, maxSubscriptions: Int, messagesPerSecond: Int, burst: Int, now: NIODeadline) {
        self.identity = identity
        self.maxSubscriptions = maxSubscriptions
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
        case "presence.get", "typing.start", "typing.stop":
            return [.send(.error(code: .unsupported, message: "'\(message.type)' is not available on this node yet", ref: message.id))]
        default:
            return [.send(.error(code: .unknownType, message: "unknown message type '\(message.type)' and no upstream is configured", ref: message.id))]
        }
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
