import Foundation
import NIOConcurrencyHelpers
import NIOCore
import HeraldProtocol

/// An in-process broker for a single node without Redis (the development default), with the
/// same history rules as the Redis functions.
///
/// Every publish hops to one event loop before delivery, so all clients see one publish order
/// per account, as they do with Redis.
public final class EmbeddedBroker: EventBroker {
    private struct State {
        var deliver: (@Sendable (String, ByteBuffer) -> Void)?
        var subscribed: (@Sendable (String) -> Void)?
        var interest: [String: Int] = [:]
        var histories: [String: EmbeddedHistory] = [:]
    }
    public let eventLoop: EventLoop
    private let window: HistoryWindow
    private let epoch: String
    private let state = NIOLockedValueBox(State())

    public init(eventLoop: EventLoop, window: HistoryWindow = HistoryWindow()) {
        self.eventLoop = eventLoop
        self.window = window
        // A new process has a new epoch: offsets from before a restart are honestly unrecoverable.
        self.epoch = String(UInt64.random(in: 1...UInt64(UInt32.max)), radix: 36)
    }

    public func start(
        deliver: @escaping @Sendable (String, ByteBuffer) -> Void,
        subscribed: @escaping @Sendable (String) -> Void,
        readinessChanged: @escaping @Sendable (Bool) -> Void
    ) {
        state.withLockedValue {
            $0.deliver = deliver
            $0.subscribed = subscribed
        }
        readinessChanged(true)
    }

    /// Interest takes effect at once; `subscribed` follows on the broker's loop, after any
    /// publish already queued there.
    public func retain(account: String) {
        let subscribed = state.withLockedValue { state in
            state.interest[account, default: 0] += 1
            return state.subscribed
        }
        if let subscribed { eventLoop.execute { subscribed(account) } }
    }

    public func release(account: String) {
        state.withLockedValue { state in
            let remaining = (state.interest[account] ?? 1) - 1
            state.interest[account] = remaining > 0 ? remaining : nil
        }
    }

    public func publish(account: String, payload: ByteBuffer, history: Bool) -> EventLoopFuture<PublishReceipt> {
        let (window, epoch) = (self.window, self.epoch)
        return eventLoop.submit { [state] in
            let now = UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000) + Self.clockBase
            let (deliver, interested, stored) = try state.withLockedValue { state in
                var stored: HistoryEvent?
                if history {
                    stored = state.histories[account, default: EmbeddedHistory(epoch: epoch)].append(payload, nowMilliseconds: now, window: window)
                    guard stored != nil else { throw BrokerError.refused("the event must be a JSON object") }
                }
                return (state.deliver, state.interest[account] != nil, stored)
            }
            if interested, let deliver { deliver(account, stored?.payload ?? payload) }
            return PublishReceipt(nodes: interested ? 1 : 0, offset: stored?.offset.description)
        }
    }

    public func position(account: String) -> EventLoopFuture<StreamOffset> {
        let epoch = self.epoch
        return eventLoop.makeSucceededFuture(state.withLockedValue {
            $0.histories[account]?.position ?? StreamOffset(epoch: epoch, milliseconds: 0, sequence: 0)
        })
    }

    public func history(account: String, after offset: StreamOffset, limit: Int, total: Int?) -> EventLoopFuture<HistoryPage> {
        let epoch = self.epoch
        return eventLoop.makeSucceededFuture(state.withLockedValue {
            ($0.histories[account] ?? EmbeddedHistory(epoch: epoch)).read(after: offset, limit: limit, total: total)
        })
    }

    public var isReady: Bool { true }

    public func shutdown() -> EventLoopFuture<Void> {
        state.withLockedValue { $0 = State() }
        return eventLoop.makeSucceededVoidFuture()
    }

    /// Wall-clock milliseconds at start-up minus the monotonic clock, so ids look like Redis's
    /// (Unix milliseconds) yet never go backwards.
    private static let clockBase: UInt64 = {
        let unixMilliseconds = UInt64(Date().timeIntervalSince1970 * 1000)
        return unixMilliseconds - NIODeadline.now().uptimeNanoseconds / 1_000_000
    }()
}
