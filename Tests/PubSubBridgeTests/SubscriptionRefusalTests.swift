import Testing

@testable import PubSubBridge

/// A SUBSCRIBE refused by Redis (ACL `NOPERM`) in ``SubscriptionStateMachine``: never a silently deaf channel.
@Suite("Subscription refusals")
struct SubscriptionRefusalTests {
    private let noperm = "NOPERM this user has no permissions to access one of the channels used as arguments"

    @Test func aRefusalWhileReadyReportsUnavailableUntilTheRetrySucceeds() {
        var machine = SubscriptionStateMachine()
        #expect(machine.connected() == .reportConnected)
        #expect(machine.retain(channel: "ok") == .subscribe(["ok"]))
        #expect(machine.subscribeConfirmed(channel: "ok") == .none)
        #expect(machine.retain(channel: "no") == .subscribe(["no"]))
        #expect(machine.subscribeRefused(channels: ["no"], message: self.noperm) == .reportUnavailable)
        #expect(!machine.isReady)
        #expect(machine.refused == ["no": self.noperm])
        #expect(machine.retryRefused() == .resubscribe([["no"]]))
        // Still refused: no second report.
        #expect(machine.subscribeRefused(channels: ["no"], message: self.noperm) == .none)
        #expect(machine.retryRefused() == .resubscribe([["no"]]))
        // While one retry is in flight, another sends nothing.
        #expect(machine.retryRefused() == .none)
        #expect(machine.subscribeConfirmed(channel: "no") == .reportConnected)
        #expect(machine.isReady)
        #expect(machine.refused.isEmpty)
    }

    @Test func aRefusedBatchIsRetriedOneChannelAtATime() {
        var machine = SubscriptionStateMachine()
        for channel in ["a", "b", "c"] { _ = machine.retain(channel: channel) }
        #expect(machine.connected() == .resubscribe([["a", "b", "c"]]))
        #expect(machine.subscribeRefused(channels: ["a", "b", "c"], message: self.noperm) == .none)
        #expect(!machine.isReady)
        #expect(machine.retryRefused() == .resubscribe([["a"], ["b"], ["c"]]))
        #expect(machine.subscribeConfirmed(channel: "a") == .none)
        #expect(machine.subscribeRefused(channels: ["b"], message: self.noperm) == .none)
        #expect(machine.subscribeConfirmed(channel: "c") == .none)
        #expect(machine.refused.keys.sorted() == ["b"])
        #expect(!machine.isReady)
    }

    @Test func aRefusedChannelNobodyNeedsAnyMoreStopsCounting() {
        var machine = SubscriptionStateMachine()
        #expect(machine.connected() == .reportConnected)
        _ = machine.retain(channel: "no")
        #expect(machine.subscribeRefused(channels: ["no"], message: self.noperm) == .reportUnavailable)
        #expect(machine.release(channel: "no") == .scheduleUnsubscribe(channel: "no", token: 1))
        #expect(machine.lingerExpired(channel: "no", token: 1) == .reportConnected)
        #expect(machine.isReady)
        #expect(machine.retryRefused() == .none)
    }

    @Test func aNewRetainOfARefusedChannelAsksAgain() {
        var machine = SubscriptionStateMachine()
        #expect(machine.connected() == .reportConnected)
        _ = machine.retain(channel: "no")
        _ = machine.subscribeRefused(channels: ["no"], message: self.noperm)
        #expect(machine.retain(channel: "no") == .subscribe(["no"]))
    }

    @Test func aReconnectForgetsRefusalsAndAsksForEverything() {
        var machine = SubscriptionStateMachine()
        #expect(machine.connected() == .reportConnected)
        _ = machine.retain(channel: "no")
        _ = machine.subscribeRefused(channels: ["no"], message: self.noperm)
        // Already reported unavailable: the disconnect reports nothing more.
        #expect(machine.disconnected() == false)
        #expect(machine.refused.isEmpty)
        #expect(machine.connected() == .resubscribe([["no"]]))
        #expect(machine.retryRefused() == .none)
    }

    @Test func refusalsOfChannelsNoLongerRequestedAreIgnored() {
        var machine = SubscriptionStateMachine()
        #expect(machine.connected() == .reportConnected)
        #expect(machine.subscribeRefused(channels: ["never"], message: self.noperm) == .none)
        #expect(machine.isReady)
    }
}
