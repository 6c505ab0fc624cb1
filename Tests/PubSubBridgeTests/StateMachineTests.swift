import NIOCore
import Testing

@testable import PubSubBridge

@Suite("Connection state machine")
struct RedisConnectionStateMachineTests {
    private let now = NIODeadline.uptimeNanoseconds(0)

    @Test func repliesMatchRequestsInOrder() {
        var machine = RedisConnectionStateMachine<Int>()
        for request in 1...3 {
            guard case .write = machine.sendCommand(request, now: self.now) else {
                Issue.record("expected write")
                return
            }
        }
        guard case .succeed(1, .integer(10)) = machine.receive(.integer(10), now: self.now) else {
            Issue.record("first reply should answer request 1")
            return
        }
        guard case .fail(2, .serverError("ERR nope")) = machine.receive(.error("ERR nope"), now: self.now) else {
            Issue.record("error reply should fail request 2")
            return
        }
        #expect(machine.pendingCount == 1)
        #expect(machine.close(error: .connectionClosed) == [3])
        guard case .fail(.connectionClosed) = machine.sendCommand(4, now: self.now) else {
            Issue.record("closed connection must refuse commands")
            return
        }
        guard case .ignore = machine.receive(.integer(1), now: self.now) else {
            Issue.record("closed connection drops replies")
            return
        }
    }

    @Test func unsolicitedReplyInCommandModeClosesConnection() {
        var machine = RedisConnectionStateMachine<Int>()
        guard case .closeConnection = machine.receive(.simpleString("OK"), now: self.now) else {
            Issue.record("expected closeConnection")
            return
        }
    }

    @Test func subscriptionModeAnswersEarlierCommandsFirst() {
        var machine = RedisConnectionStateMachine<Int>()
        _ = machine.sendCommand(1, now: self.now)
        _ = machine.sendSubscriptionCommand(.subscribe, channels: ["a"], now: self.now)
        #expect(machine.isInSubscriptionMode)
        guard case .succeed(1, _) = machine.receive(.simpleString("OK"), now: self.now) else {
            Issue.record("the pending AUTH reply comes first")
            return
        }
        guard case .push = machine.receive(.array([]), now: self.now) else {
            Issue.record("then pushes")
            return
        }
        guard case .fail(.unsupportedInSubscriptionMode) = machine.sendCommand(2, now: self.now) else {
            Issue.record("regular commands are refused in subscription mode")
            return
        }
    }
}

@Suite("Subscription state machine")
struct SubscriptionStateMachineTests {
    private func connectedMachine(batchSize: Int = 1000) -> SubscriptionStateMachine {
        var machine = SubscriptionStateMachine(batchSize: batchSize)
        #expect(machine.connected() == .reportConnected)
        return machine
    }

    @Test func firstRetainSubscribesOnce() {
        var machine = self.connectedMachine()
        #expect(machine.retain(channel: "a") == .subscribe(["a"]))
        #expect(machine.retain(channel: "a") == .none)
        #expect(machine.subscribeConfirmed(channel: "a") == .none)
        #expect(machine.retain(channel: "a") == .reportSubscribed("a"))
        #expect(machine.references(to: "a") == 3)
        #expect(machine.release(channel: "a") == .none)
        #expect(machine.release(channel: "a") == .none)
        #expect(machine.release(channel: "a") == .scheduleUnsubscribe(channel: "a", token: 1))
        #expect(machine.lingerExpired(channel: "a", token: 1) == .unsubscribe(["a"]))
        #expect(machine.interestedChannels.isEmpty)
    }

    @Test func retainDuringLingerKeepsSubscription() {
        var machine = self.connectedMachine()
        _ = machine.retain(channel: "a")
        _ = machine.subscribeConfirmed(channel: "a")
        #expect(machine.release(channel: "a") == .scheduleUnsubscribe(channel: "a", token: 1))
        // Still subscribed from before the linger: nothing is sent, and the caller learns at once
        // that the channel is live.
        #expect(machine.retain(channel: "a") == .reportSubscribed("a"))
        #expect(machine.lingerExpired(channel: "a", token: 1) == .none)
        #expect(machine.release(channel: "a") == .scheduleUnsubscribe(channel: "a", token: 2))
        #expect(machine.lingerExpired(channel: "a", token: 1) == .none)
        #expect(machine.lingerExpired(channel: "a", token: 2) == .unsubscribe(["a"]))
    }

    @Test func resubscribeAfterUnsubscribeSendsSubscribeAgain() {
        var machine = self.connectedMachine()
        _ = machine.retain(channel: "a")
        _ = machine.release(channel: "a")
        #expect(machine.lingerExpired(channel: "a", token: 1) == .unsubscribe(["a"]))
        #expect(machine.retain(channel: "a") == .subscribe(["a"]))
    }

    @Test func unbalancedReleaseIsIgnored() {
        var machine = self.connectedMachine()
        #expect(machine.release(channel: "never") == .none)
        #expect(machine.references(to: "never") == 0)
    }

    @Test func retainWhileDisconnectedWaitsForConnection() {
        var machine = SubscriptionStateMachine(batchSize: 2)
        #expect(machine.retain(channel: "c") == .none)
        #expect(machine.retain(channel: "a") == .none)
        #expect(machine.retain(channel: "b") == .none)
        #expect(machine.connected() == .resubscribe([["a", "b"], ["c"]]))
        #expect(!machine.isReady)
        #expect(machine.subscribeConfirmed(channel: "a") == .none)
        #expect(machine.subscribeConfirmed(channel: "b") == .none)
        #expect(machine.subscribeConfirmed(channel: "c") == .reportConnected)
        #expect(machine.isReady)
        #expect(machine.confirmed == ["a", "b", "c"])
    }

    @Test func reconnectResubscribesEverythingStillNeededInBatches() {
        var machine = self.connectedMachine(batchSize: 1000)
        for index in 0..<2500 {
            _ = machine.retain(channel: "ch\(index)")
        }
        #expect(machine.disconnected() == true)
        #expect(machine.confirmed.isEmpty)
        guard case .resubscribe(let batches) = machine.connected() else {
            Issue.record("expected resubscribe")
            return
        }
        #expect(batches.map(\.count) == [1000, 1000, 500])
        #expect(Set(batches.joined()).count == 2500)
    }

    @Test func lingeringChannelIsResubscribedAndStillExpires() {
        var machine = self.connectedMachine()
        _ = machine.retain(channel: "a")
        _ = machine.release(channel: "a")
        _ = machine.disconnected()
        #expect(machine.connected() == .resubscribe([["a"]]))
        #expect(machine.lingerExpired(channel: "a", token: 1) == .unsubscribe(["a"]))
    }

    @Test func lingerExpiringWhileDisconnectedSendsNothing() {
        var machine = self.connectedMachine()
        _ = machine.retain(channel: "a")
        _ = machine.release(channel: "a")
        _ = machine.disconnected()
        #expect(machine.lingerExpired(channel: "a", token: 1) == .none)
        #expect(machine.connected() == .reportConnected)
    }

    @Test func retainDuringResubscribeSubscribesImmediately() {
        var machine = SubscriptionStateMachine()
        _ = machine.retain(channel: "a")
        #expect(machine.connected() == .resubscribe([["a"]]))
        #expect(machine.retain(channel: "b") == .subscribe(["b"]))
        #expect(machine.retain(channel: "a") == .none)
    }

    @Test func unsubscribeConfirmationUpdatesConfirmedSet() {
        var machine = self.connectedMachine()
        _ = machine.retain(channel: "a")
        _ = machine.subscribeConfirmed(channel: "a")
        #expect(machine.confirmed == ["a"])
        machine.unsubscribeConfirmed(channel: "a")
        #expect(machine.confirmed.isEmpty)
    }

    @Test func shutdownStopsEverything() {
        var machine = self.connectedMachine()
        _ = machine.retain(channel: "a")
        #expect(machine.shutdown() == true)
        #expect(machine.retain(channel: "b") == .none)
        #expect(machine.connected() == .none)
        #expect(machine.disconnected() == false)
    }

    @Test func parsesPushes() {
        func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
        #expect(RedisPubSubPush(.array([bulk("message"), bulk("c"), bulk("p")])) == .message(channel: "c", payload: ByteBuffer(string: "p")))
        #expect(RedisPubSubPush(.array([bulk("subscribe"), bulk("c"), .integer(2)])) == .subscribed(channel: "c", count: 2))
        #expect(RedisPubSubPush(.array([bulk("unsubscribe"), .null, .integer(0)])) == .unsubscribed(channel: nil, count: 0))
        #expect(RedisPubSubPush(.array([bulk("pong"), bulk("")])) == .pong)
        #expect(RedisPubSubPush(.array([bulk("pmessage"), bulk("p*"), bulk("c"), bulk("x")])) == nil)
        #expect(RedisPubSubPush(.error("ERR")) == nil)
    }
}
