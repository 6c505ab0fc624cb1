@testable import EdgeNode
import HeraldBroker
import HeraldProtocol
import NIOCore
import NIOEmbedded
import PubSubBridge
import Testing

@Suite("ConnectionRecovery state machine")
struct ConnectionRecoveryTests {
    private func offset(_ milliseconds: UInt64, epoch: String = "e1") -> StreamOffset {
        StreamOffset(epoch: epoch, milliseconds: milliseconds, sequence: 0)
    }

    private func event(_ milliseconds: UInt64?, channel: String? = nil, epoch: String = "e1") -> OutboundEvent {
        let payload = ByteBuffer(string: #"{"type":"x"}"#)
        return OutboundEvent(
            frames: [payload], payload: payload, routing: EventRouting(channel: channel.map { RoutingKey($0) }), offset: milliseconds.map { offset($0, epoch: epoch) },
            size: payload.readableBytes)
    }

    private func history(_ items: [(UInt64, String?)], hasMore: Bool = false) -> HistoryPage {
        let events = items.map { milliseconds, channel in
            let channelField = channel.map { #","channel":"\#($0)""# } ?? ""
            return HistoryEvent(
                offset: offset(milliseconds),
                payload: ByteBuffer(string: #"{"offset":"e1:\#(milliseconds)-0","type":"x"\#(channelField)}"#))
        }
        return HistoryPage(epoch: "e1", events: events, truncated: false, hasMore: hasMore)
    }

    @Test func liveEventsAtOrBelowTheStartAreDuplicates() {
        var recovery = ConnectionRecovery(start: offset(10), maxReplayEvents: 100, maxHeldBytes: 1000)
        #expect(recovery.live(event(9)) == .drop)
        #expect(recovery.live(event(10)) == .drop)
        #expect(recovery.live(event(nil)) == .write)
        #expect(recovery.live(event(11)) == .write)
        #expect(recovery.live(event(11)) == .drop)
        // Another epoch is a new history: it flows.
        #expect(recovery.live(event(1, epoch: "e2")) == .write)
    }

    @Test func resumeHoldsLiveEventsAndDropsTheOnesItReplayed() {
        var recovery = ConnectionRecovery(start: offset(20), maxReplayEvents: 100, maxHeldBytes: 1000)
        guard case .read(let after, _, let total) = recovery.begin(.resume, after: offset(10)) else { Issue.record("expected a read"); return }
        #expect(after == offset(10))
        // The first read asks the broker to refuse at once when more than the replay limit follow.
        #expect(total == 100)
        #expect(recovery.live(event(21)) == .hold)
        #expect(recovery.live(event(23)) == .hold)
        let (writes, next) = recovery.receive(history([(11, nil), (21, nil), (22, nil)])) { _ in true }
        #expect(writes.count == 3)
        guard case .finish(let message, let held) = next else { Issue.record("expected the end"); return }
        #expect(message == [.recovery(recovered: true, count: 3, reason: nil)])
        #expect(held.map { recovery.live($0) } == [.drop, .write])
        #expect(recovery.base == offset(10))
        #expect(recovery.resumed)
    }

    @Test func channelReplayDeliversOnlyThatChannelBelowWhatTheConnectionHas() {
        var recovery = ConnectionRecovery(start: offset(10), maxReplayEvents: 100, maxHeldBytes: 1000)
        #expect(recovery.live(event(15)) == .write)
        _ = recovery.begin(.channel("inbox", reports: false, ref: .integer(7)), after: offset(10))
        let page = history([(11, "inbox"), (12, "kpi"), (13, nil), (15, nil), (16, nil), (17, "inbox")])
        let (writes, next) = recovery.receive(page) { _ in true }
        // 11 (inbox, missed), then everything newer than 15 that the connection may see.
        #expect(writes.map { String(buffer: $0) }.map { $0.contains("e1:11-0") || $0.contains("e1:16-0") || $0.contains("e1:17-0") } == [true, true, true])
        // Only the subscribe's ack on success when the client did not resume.
        guard case .finish([.ack(ref: .integer(7))], _) = next else { Issue.record("expected only the ack, got \(next)"); return }
    }

    @Test func aLateSubscribeReplaysWhenTheConnectionOrTheNodeIsPastTheBase() {
        var recovery = ConnectionRecovery(start: offset(10), maxReplayEvents: 100, maxHeldBytes: 1000)
        #expect(recovery.channelReplayStart(nodeDelivered: offset(10)) == nil)
        #expect(recovery.channelReplayStart(nodeDelivered: offset(12)) == offset(10))
        #expect(recovery.channelReplayStart(nodeDelivered: nil) == offset(10))
        // A resume read history past the base while the node itself is still catching up: the
        // node's later copies of the channel's events would be dropped as duplicates here.
        _ = recovery.begin(.resume, after: offset(5))
        _ = recovery.receive(history([(6, nil), (8, "inbox"), (12, nil)])) { $0.channel == nil }
        #expect(recovery.last == offset(12))
        #expect(recovery.channelReplayStart(nodeDelivered: offset(4)) == offset(5))
    }

    @Test func failuresAlwaysAnswerAndTooManyStopsTheRead() {
        var recovery = ConnectionRecovery(start: offset(10), maxReplayEvents: 2, maxHeldBytes: 1000)
        _ = recovery.begin(.joinGap, after: offset(10))
        guard case .finish(let message, _) = recovery.receive(history([(11, nil), (12, nil), (13, nil)])) { _ in true }.next else {
            Issue.record("expected the end")
            return
        }
        #expect(message == [.recovery(recovered: false, count: 2, reason: "too_many")])
        _ = recovery.begin(.channel("inbox", reports: false, ref: nil), after: offset(10))
        guard case .finish(let failed, _) = recovery.fail(reason: "unavailable") else { Issue.record("expected the end"); return }
        #expect(failed == [.recovery(recovered: false, count: 0, reason: "unavailable", channel: "inbox")])
    }

    @Test func tooManyIsDecidedByTheFirstRead() {
        var recovery = ConnectionRecovery(start: offset(10), maxReplayEvents: 100, maxHeldBytes: 1000)
        _ = recovery.begin(.resume, after: offset(1))
        let page = HistoryPage(epoch: "e1", events: [], truncated: false, hasMore: false, exceedsTotal: true)
        guard case .finish(let messages, _) = recovery.receive(page, selects: { _ in true }).next else { Issue.record("expected the end"); return }
        #expect(messages == [.recovery(recovered: false, count: 0, reason: "too_many")])
    }

    @Test func heldBytesOverTheLimitMeanTheClientIsTooSlow() {
        var recovery = ConnectionRecovery(start: offset(10), maxReplayEvents: 100, maxHeldBytes: 20)
        _ = recovery.begin(.joinGap, after: offset(10))
        #expect(recovery.live(event(11)) == .hold)
        #expect(recovery.live(event(12)) == .overflow)
    }
}

@Suite("AccountInterest")
struct AccountInterestTests {
    private func offset(_ milliseconds: UInt64) -> StreamOffset { StreamOffset(epoch: "e1", milliseconds: milliseconds, sequence: 0) }

    @Test func aNewAccountHoldsLiveEventsUntilItsCatchUpEnds() throws {
        let interest = AccountInterest(broker: EmbeddedBroker(eventLoop: EmbeddedEventLoop()))
        #expect(interest.join(account: "a", shard: 0, start: offset(10)) == offset(10))
        #expect(interest.admit(account: "a", payload: ByteBuffer(string: "x"), offset: offset(12)) == .skip)
        // A second connection that started earlier moves the catch-up's start back.
        #expect(interest.join(account: "a", shard: 1, start: offset(8)) == offset(8))
        let catchUp = try #require(interest.subscribed(account: "a"))
        #expect(catchUp.after == offset(8))
        #expect(interest.admitRecovered(account: "a", offset: offset(11), generation: catchUp.generation) == .deliver(shards: 0b11))
        #expect(interest.admitRecovered(account: "a", offset: offset(12), generation: catchUp.generation) == .deliver(shards: 0b11))
        // A newer subscription (the broker reconnected) supersedes this catch-up.
        let again = try #require(interest.subscribed(account: "a"))
        #expect(again.after == offset(12))
        #expect(interest.admitRecovered(account: "a", offset: offset(13), generation: catchUp.generation) == .skip)
        #expect(interest.endCatchUp(account: "a", generation: catchUp.generation).isEmpty)
        let held = interest.endCatchUp(account: "a", generation: again.generation)
        #expect(held.count == 1)
        // The held copy of 12 is a duplicate now; a later event flows.
        #expect(interest.admit(account: "a", payload: held[0], offset: offset(12)) == .skip)
        #expect(interest.admit(account: "a", payload: held[0], offset: offset(14)) == .deliver(shards: 0b11))
        #expect(interest.join(account: "a", shard: 0, start: offset(10)) == offset(14))
    }
}
