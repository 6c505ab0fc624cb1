import NIOConcurrencyHelpers
import NIOCore

/// A bound on concurrent upstream requests per node: at most `limit` in flight, at most
/// `queueLimit` waiting for a slot (first come, first served); beyond that a request is refused
/// at once rather than queued without bound.
final class RequestSlots: Sendable {
    private struct State {
        var inFlight = 0
        var waiting = CircularBuffer<EventLoopPromise<Void>>()
    }

    /// Why a slot was not given: the queue is full.
    struct Busy: Error, CustomStringConvertible {
        var limit: Int
        var description: String { "more than \(limit) requests waiting for the upstream" }
    }

    let limit: Int
    let queueLimit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int, queueLimit: Int) {
        self.limit = max(1, limit)
        self.queueLimit = max(0, queueLimit)
    }

    /// Succeeds once the caller holds a slot (it must ``release()`` it); fails with ``Busy``.
    func acquire(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        enum Outcome { case granted, queued, refused }
        let outcome = state.withLockedValue { state -> Outcome in
            if state.inFlight < limit {
                state.inFlight += 1
                return .granted
            }
            guard state.waiting.count < queueLimit else { return .refused }
            state.waiting.append(promise)
            return .queued
        }
        switch outcome {
        case .granted: promise.succeed()
        case .queued: break
        case .refused: promise.fail(Busy(limit: queueLimit))
        }
        return promise.futureResult
    }

    /// Gives the slot to the oldest waiter, or frees it.
    func release() {
        let next = state.withLockedValue { state -> EventLoopPromise<Void>? in
            if let next = state.waiting.popFirst() { return next }
            state.inFlight -= 1
            return nil
        }
        next?.succeed()
    }

    /// Fails every waiter (shutdown).
    func failWaiting(_ error: any Error) {
        let waiting = state.withLockedValue { state in
            defer { state.waiting.removeAll() }
            return Array(state.waiting)
        }
        for promise in waiting { promise.fail(error) }
    }
}
