import NIOCore
import Testing

@testable import PubSubBridge

/// Deadlines, keepalives, the pending bound and SUBSCRIBE refusals of ``RedisConnectionStateMachine``, with time
/// passed in: no sockets, no clocks.
@Suite("Connection liveness state machine")
struct ConnectionLivenessTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func at(_ milliseconds: Int64) -> NIODeadline {
        self.start + .milliseconds(milliseconds)
    }

    private func machine(timeout: Int64 = 2000, keepalive: Int64? = 1000, maxPending: Int = 100) -> RedisConnectionStateMachine<Int> {
        var machine = RedisConnectionStateMachine<Int>(
            commandTimeout: .milliseconds(timeout), keepaliveInterval: keepalive.map { .milliseconds($0) }, maxPending: maxPending)
        machine.connected(now: self.start)
        return machine
    }

    private func bulk(_ text: String) -> RESPValue {
        .bulkString(ByteBuffer(string: text))
    }

    @Test func aCommandPastItsDeadlineClosesTheConnection() {
        var machine = self.machine()
        _ = machine.sendCommand(1, now: self.at(0))
        _ = machine.sendCommand(2, now: self.at(500))
        #expect(machine.nextWakeup == self.at(2000))
        #expect(machine.tick(now: self.at(1999)) == .none)
        guard case .closeConnection(let error) = machine.tick(now: self.at(2000)) else {
            Issue.record("the first command is overdue")
            return
        }
        #expect(error.isTimeout)
        #expect("\(error)".contains("did not answer within 2 s"))
        #expect(machine.close(error: error) == [1, 2])
        #expect(machine.nextWakeup == nil)
        #expect(machine.tick(now: self.at(5000)) == .none)
    }

    @Test func answeredCommandsMoveTheDeadlineToTheNextOne() {
        var machine = self.machine()
        _ = machine.sendCommand(1, now: self.at(0))
        _ = machine.sendCommand(2, now: self.at(1500))
        guard case .succeed(1, _) = machine.receive(.integer(1), now: self.at(1900)) else {
            Issue.record("reply 1")
            return
        }
        #expect(machine.nextWakeup == self.at(3500))
        #expect(machine.tick(now: self.at(2500)) == .none)
        guard case .succeed(2, _) = machine.receive(.integer(2), now: self.at(3400)) else {
            Issue.record("reply 2")
            return
        }
        // Idle again: the keepalive falls due one interval after the last reply.
        #expect(machine.nextWakeup == self.at(4400))
    }

    @Test func anIdleConnectionPingsAndClosesWhenThePongIsLate() {
        var machine = self.machine()
        #expect(machine.nextWakeup == self.at(1000))
        #expect(machine.tick(now: self.at(999)) == .none)
        #expect(machine.tick(now: self.at(1000)) == .sendKeepalive)
        #expect(machine.pendingCount == 1)
        #expect(machine.nextWakeup == self.at(3000))
        #expect(machine.tick(now: self.at(2000)) == .none)
        guard case .closeConnection(let error) = machine.tick(now: self.at(3000)) else {
            Issue.record("the PING is overdue: a stall is noticed 3 s after the last reply")
            return
        }
        #expect("\(error)".contains("did not answer PING within 2 s"))
        // The keepalive is nobody's request: closing fails no caller.
        #expect(machine.close(error: error) == [])
    }

    @Test func aKeepaliveAnswerIsConsumedAndRestartsTheIdleClock() {
        var machine = self.machine()
        #expect(machine.tick(now: self.at(1000)) == .sendKeepalive)
        guard case .ignore = machine.receive(.simpleString("PONG"), now: self.at(1010)) else {
            Issue.record("the PONG answers the keepalive, not a caller")
            return
        }
        #expect(machine.pendingCount == 0)
        #expect(machine.nextWakeup == self.at(2010))
        // An ACL that forbids PING still proves Redis answers.
        #expect(machine.tick(now: self.at(2010)) == .sendKeepalive)
        guard case .ignore = machine.receive(.error("NOPERM no PING for you"), now: self.at(2020)) else {
            Issue.record("an error answer to the keepalive is an answer")
            return
        }
    }

    @Test func noKeepaliveWhileCommandsAreInFlight() {
        var machine = self.machine()
        _ = machine.sendCommand(1, now: self.at(900))
        #expect(machine.tick(now: self.at(1500)) == .none)
        #expect(machine.nextWakeup == self.at(2900))
    }

    @Test func aCommandQueuedBehindAKeepaliveIsAnsweredInOrder() {
        var machine = self.machine()
        #expect(machine.tick(now: self.at(1000)) == .sendKeepalive)
        _ = machine.sendCommand(7, now: self.at(1001))
        guard case .ignore = machine.receive(.simpleString("PONG"), now: self.at(1002)) else {
            Issue.record("PONG first")
            return
        }
        guard case .succeed(7, .integer(42)) = machine.receive(.integer(42), now: self.at(1003)) else {
            Issue.record("then the command's reply")
            return
        }
    }

    @Test func keepaliveCanBeTurnedOff() {
        var machine = self.machine(keepalive: nil)
        #expect(machine.nextWakeup == nil)
        #expect(machine.tick(now: self.at(60_000)) == .none)
    }

    @Test func thePendingQueueIsBounded() {
        var machine = self.machine(maxPending: 3)
        for request in 1...3 {
            guard case .write = machine.sendCommand(request, now: self.at(0)) else {
                Issue.record("within the bound")
                return
            }
        }
        guard case .fail(let error) = machine.sendCommand(4, now: self.at(0)) else {
            Issue.record("the fourth command must fail at once")
            return
        }
        #expect(error == .tooManyPendingCommands(limit: 3))
        #expect("\(error)".contains("3 Redis commands are already waiting"))
        _ = machine.receive(.integer(1), now: self.at(1))
        guard case .write = machine.sendCommand(5, now: self.at(1)) else {
            Issue.record("room again after a reply")
            return
        }
    }

    @Test func subscriberPingsAndMatchesThePongPush() {
        var machine = self.machine()
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["a"], now: self.at(0))
        guard case .push = machine.receive(.array([self.bulk("subscribe"), self.bulk("a"), .integer(1)]), now: self.at(5)) else {
            Issue.record("the confirmation goes to the subscriber")
            return
        }
        // Messages are traffic: they keep the keepalive away.
        _ = machine.receive(.array([self.bulk("message"), self.bulk("a"), self.bulk("x")]), now: self.at(800))
        #expect(machine.tick(now: self.at(1500)) == .none)
        #expect(machine.tick(now: self.at(1800)) == .sendKeepalive)
        #expect(machine.nextWakeup == self.at(3800))
        // A message that was on its way before the pong does not answer the PING.
        guard case .push = machine.receive(.array([self.bulk("message"), self.bulk("a"), self.bulk("y")]), now: self.at(1801)) else {
            Issue.record("messages still flow")
            return
        }
        guard case .ignore = machine.receive(.array([self.bulk("pong"), self.bulk("")]), now: self.at(1802)) else {
            Issue.record("the pong push answers the keepalive")
            return
        }
        #expect(machine.nextWakeup == self.at(2802))
        #expect(machine.tick(now: self.at(2802)) == .sendKeepalive)
        guard case .closeConnection(let error) = machine.tick(now: self.at(4802)) else {
            Issue.record("an unanswered PING on the subscriber closes it too")
            return
        }
        #expect(error.isTimeout)
    }

    @Test func subscriberWithNoChannelsLeftGetsAPlainPong() {
        var machine = self.machine()
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["a"], now: self.at(0))
        _ = machine.receive(.array([self.bulk("subscribe"), self.bulk("a"), .integer(1)]), now: self.at(1))
        _ = machine.sendSubscriptionCommand(.unsubscribe, channels: ["a"], now: self.at(2))
        _ = machine.receive(.array([self.bulk("unsubscribe"), self.bulk("a"), .integer(0)]), now: self.at(3))
        #expect(machine.tick(now: self.at(1003)) == .sendKeepalive)
        guard case .ignore = machine.receive(.simpleString("PONG"), now: self.at(1004)) else {
            Issue.record("RESP2 answers PING with +PONG once no channel is left")
            return
        }
        #expect(machine.tick(now: self.at(2000)) == .none)
    }

    @Test func anUnconfirmedSubscribePastItsDeadlineClosesTheConnection() {
        var machine = self.machine()
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["a", "b"], now: self.at(0))
        _ = machine.receive(.array([self.bulk("subscribe"), self.bulk("a"), .integer(1)]), now: self.at(10))
        guard case .closeConnection(let error) = machine.tick(now: self.at(2000)) else {
            Issue.record("b was never confirmed")
            return
        }
        #expect("\(error)".contains("SUBSCRIBE"))
    }

    @Test func aRefusedSubscribeNamesItsChannels() {
        var machine = self.machine()
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["ok"], now: self.at(0))
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["no1", "no2"], now: self.at(0))
        _ = machine.sendSubscriptionCommand(.unsubscribe, channels: ["old"], now: self.at(0))
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["late"], now: self.at(0))
        let noperm = "NOPERM this user has no permissions to access one of the channels used as arguments"
        guard case .push = machine.receive(.array([self.bulk("subscribe"), self.bulk("ok"), .integer(1)]), now: self.at(1)) else {
            Issue.record("ok is confirmed")
            return
        }
        _ = machine.receive(.array([self.bulk("message"), self.bulk("ok"), self.bulk("m")]), now: self.at(2))
        guard case .subscriptionRefused(let channels, let error) = machine.receive(.error(noperm), now: self.at(3)) else {
            Issue.record("the error answers the second SUBSCRIBE")
            return
        }
        #expect(channels == ["no1", "no2"])
        #expect(error.serverMessage == noperm)
        _ = machine.receive(.array([self.bulk("unsubscribe"), self.bulk("old"), .integer(1)]), now: self.at(4))
        guard case .subscriptionRefused(["late"], _) = machine.receive(.error(noperm), now: self.at(5)) else {
            Issue.record("a later refusal names its own channel")
            return
        }
        // Everything answered: nothing is overdue, the idle clock runs from the last reply.
        #expect(machine.nextWakeup == self.at(1005))
    }
}
