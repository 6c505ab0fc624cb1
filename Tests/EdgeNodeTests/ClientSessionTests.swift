@testable import EdgeNode
import HeraldProtocol
import NIOCore
import Testing

@Suite("ClientSession state machine")
struct ClientSessionTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func session(channels: Set<String> = ["inbox"], rate: Int = 100, burst: Int = 100) -> ClientSession {
        ClientSession(
            identity: ClientIdentity(user: "alice", account: "42", channels: channels),
            maxSubscriptions: 2, messagesPerSecond: rate, burst: burst, now: start)
    }

    @Test func pingForms() {
        var session = session()
        #expect(session.receive(text: Array("ping".utf8), now: start) == [.sendBareText("pong")])
        #expect(session.receive(text: Array(#"{"type":"ping","id":"a"}"#.utf8), now: start) == [.send(.pong(ref: .string("a")))])
    }

    @Test func refreshBecomesAnAction() {
        var session = session(channels: ["kpi:*"])
        #expect(session.receive(text: Array(#"{"type":"refresh","token":"a.b.c","id":5}"#.utf8), now: start)
            == [.refresh(token: "a.b.c", ref: .integer(5))])
        let missing = session.receive(text: Array(#"{"type":"refresh","id":6}"#.utf8), now: start)
        guard case .send(.error(code: .malformedMessage, _, ref: .integer(6)))? = missing.first else {
            Issue.record("expected malformed_message, got \(missing)")
            return
        }
        // A prefix grant allows the channels under it.
        #expect(session.receive(text: Array(#"{"type":"subscribe","channel":"kpi:sales"}"#.utf8), now: start) == [.subscribe(channel: "kpi:sales")])
    }

    @Test func subscribeRules() {
        var session = session(channels: ["inbox", "kpi", "extra"])
        #expect(session.receive(text: Array(#"{"type":"subscribe","channel":"inbox","id":1}"#.utf8), now: start)
            == [.subscribe(channel: "inbox", ref: .integer(1))])
        // Repeating is idempotent.
        #expect(session.receive(text: Array(#"{"type":"subscribe","channel":"inbox"}"#.utf8), now: start) == [])
        #expect(session.receive(text: Array(#"{"type":"subscribe","channel":"kpi"}"#.utf8), now: start) == [.subscribe(channel: "kpi")])
        // Over the per-connection maximum of 2.
        let over = session.receive(text: Array(#"{"type":"subscribe","channel":"extra"}"#.utf8), now: start)
        guard case .send(.error(code: .tooManySubscriptions, _, _))? = over.first else {
            Issue.record("expected too_many_subscriptions, got \(over)")
            return
        }
        let forbidden = session.receive(text: Array(#"{"type":"subscribe","channel":"secret","id":"x"}"#.utf8), now: start)
        guard case .send(.error(code: .channelForbidden, _, ref: .string("x")))? = forbidden.first else {
            Issue.record("expected channel_forbidden, got \(forbidden)")
            return
        }
        #expect(session.receive(text: Array(#"{"type":"unsubscribe","channel":"inbox"}"#.utf8), now: start) == [.unsubscribe(channel: "inbox")])
        #expect(session.subscriptions == ["kpi"])
    }

    @Test func wildcardChannels() {
        var session = session(channels: ["*"])
        #expect(session.receive(text: Array(#"{"type":"subscribe","channel":"anything"}"#.utf8), now: start) == [.subscribe(channel: "anything")])
    }

    @Test func malformedInputs() {
        var session = session()
        for text in ["", "{", "[]", "42", #"{"type":5}"#, #"{"type":""}"#, "\u{FF}\u{FE}", #"{"type":"\#(String(repeating: "t", count: 65))"}"#] {
            let actions = session.receive(text: Array(text.utf8), now: start)
            guard case .send(.error(code: .malformedMessage, _, _))? = actions.first else {
                Issue.record("\(text) gave \(actions)")
                continue
            }
        }
        let invalidUTF8: [UInt8] = [0x7B, 0xFF, 0x7D]
        guard case .send(.error(code: .malformedMessage, _, _))? = session.receive(text: invalidUTF8, now: start).first else {
            Issue.record("invalid UTF-8 accepted")
            return
        }
    }

    @Test func floodControlWithInjectedClock() {
        var session = session(rate: 2, burst: 2)
        let ping = Array(#"{"type":"ping"}"#.utf8)
        #expect(session.receive(text: ping, now: start) == [.send(.pong(ref: nil))])
        #expect(session.receive(text: ping, now: start) == [.send(.pong(ref: nil))])
        #expect(session.receive(text: ping, now: start) == [.send(.error(code: .rateLimited, message: "too many messages: slow down", ref: nil))])
        #expect(session.receive(text: ping, now: start) == [])
        #expect(session.receive(text: ping, now: start) == [.close(.policyViolation, reason: "message flood")])
        // After a second, tokens are back.
        var rested = self.session(rate: 2, burst: 2)
        _ = rested.receive(text: ping, now: start)
        _ = rested.receive(text: ping, now: start)
        #expect(rested.receive(text: ping, now: start + .seconds(1)) == [.send(.pong(ref: nil))])
    }
}

@Suite("ClientSession during a replay")
struct ClientSessionDeferralTests {
    @Test func subscriptionChangesWaitForTheReplayInOrder() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var session = ClientSession(
            identity: ClientIdentity(user: "alice", account: "42", channels: ["*"]),
            maxSubscriptions: 4, messagesPerSecond: 100, burst: 100, now: start, channels: ["kpi"])
        #expect(session.subscriptions == ["kpi"])
        session.defersSubscriptionChanges = true
        #expect(session.receive(text: Array(#"{"type":"subscribe","channel":"inbox","id":1}"#.utf8), now: start) == [])
        #expect(session.receive(text: Array(#"{"type":"unsubscribe","channel":"kpi"}"#.utf8), now: start) == [])
        // Everything else is answered at once.
        #expect(session.receive(text: Array(#"{"type":"ping"}"#.utf8), now: start) == [.send(.pong(ref: nil))])
        session.defersSubscriptionChanges = false
        let first = session.takeDeferred()
        #expect(first?.channel == "inbox")
        #expect(session.handle(first!, now: start) == [.subscribe(channel: "inbox", ref: .integer(1))])
        #expect(session.handle(session.takeDeferred()!, now: start) == [.unsubscribe(channel: "kpi")])
        #expect(session.takeDeferred() == nil)
    }
}

@Suite("ClientSession costs a client can multiply")
struct ClientSessionCostTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func resumesAreSpacedAndTypingStatesExpireFromTheCap() {
        var session = ClientSession(
            identity: ClientIdentity(user: "alice", account: "42"), maxSubscriptions: 4, messagesPerSecond: 1000, burst: 1000,
            now: start, typingTTL: .seconds(3))
        let resume = Array(#"{"type":"resume","since":"a:1-0","id":1}"#.utf8)
        #expect(session.receive(text: resume, now: start) == [.resume(since: "a:1-0", ref: .integer(1))])
        guard case .send(.error(code: .rateLimited, _, ref: .integer(1)))? = session.receive(text: resume, now: start + .milliseconds(500)).first else {
            Issue.record("a second resume within the interval must be refused")
            return
        }
        #expect(session.receive(text: resume, now: start + .milliseconds(1500)) == [.resume(since: "a:1-0", ref: .integer(1))])

        for conversation in 0..<ClientSession.maxTypingConversations {
            #expect(session.receive(text: Array(#"{"type":"typing.start","conversation_id":"c\#(conversation)"}"#.utf8), now: start)
                == [.startTyping(conversation: "c\(conversation)")])
        }
        let extra = Array(#"{"type":"typing.start","conversation_id":"late"}"#.utf8)
        guard case .send(.error(code: .rateLimited, _, _))? = session.receive(text: extra, now: start + .seconds(1)).first else {
            Issue.record("a 17th conversation within the TTL must be refused")
            return
        }
        // Without explicit stops the states end after the TTL, and the tab can type again.
        #expect(session.receive(text: extra, now: start + .seconds(4)) == [.startTyping(conversation: "late")])
    }
}

@Suite("ClientSession: Herald's own types never go upstream")
struct ClientSessionOwnTypesTests {
    @Test func refreshIsHandledEvenWithAnUpstream() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var session = ClientSession(
            identity: ClientIdentity(user: "alice", account: "42"), maxSubscriptions: 4, messagesPerSecond: 100, burst: 100,
            now: start, upstream: UpstreamPolicy())
        #expect(session.receive(text: Array(#"{"type":"refresh","token":"t","id":1}"#.utf8), now: start) == [.refresh(token: "t", ref: .integer(1))])
        guard case .upstream(type: "sendMessage", _, _)? = session.receive(text: Array(#"{"type":"sendMessage","id":2}"#.utf8), now: start).first else {
            Issue.record("other types go upstream")
            return
        }
    }
}
