import NIOConcurrencyHelpers
import NIOCore

/// An in-process broker for a single node without Redis (the development default).
///
/// Every publish hops to one event loop before delivery, so all clients see one publish order
/// per account, as they do with Redis.
public final class EmbeddedBroker: EventBroker {
    private struct State {
        var deliver: (@Sendable (String, ByteBuffer) -> Void)?
        var interest: [String: Int] = [:]
    }
    private let eventLoop: EventLoop
    private let state = NIOLockedValueBox(State())

    public init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    public func start(
        deliver: @escaping @Sendable (String, ByteBuffer) -> Void,
        readinessChanged: @escaping @Sendable (Bool) -> Void
    ) {
        state.withLockedValue { $0.deliver = deliver }
        readinessChanged(true)
    }

    public func retain(account: String) {
        state.withLockedValue { $0.interest[account, default: 0] += 1 }
    }

    public func release(account: String) {
        state.withLockedValue { state in
            let remaining = (state.interest[account] ?? 1) - 1
            state.interest[account] = remaining > 0 ? remaining : nil
        }
    }

    public func publish(account: String, payload: ByteBuffer) -> EventLoopFuture<PublishReceipt> {
        eventLoop.submit { [state] in
            let (deliver, interested) = state.withLockedValue { ($0.deliver, $0.interest[account] != nil) }
            guard interested, let deliver else { return PublishReceipt(nodes: 0) }
            deliver(account, payload)
            return PublishReceipt(nodes: 1)
        }
    }

    public var isReady: Bool { true }

    public func shutdown() -> EventLoopFuture<Void> {
        state.withLockedValue { $0 = State() }
        return eventLoop.makeSucceededVoidFuture()
    }
}
