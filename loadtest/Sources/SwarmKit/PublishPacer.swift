import NIOCore

/// Publishes at a fixed rate on the publisher loop: every 2 ms it works out how many events are
/// due since the step started, picks each one's account, gives it the account's next sequence
/// number and hands it to the sink. A stall is caught up in bursts of at most 50 ms worth.
/// Confined to the publisher loop (hence `@unchecked Sendable`).
final class PublishPacer: @unchecked Sendable {
    private let loop: any EventLoop
    private let sink: any EventSink
    private let ledger: PublishLedger
    private var picker: AccountPicker
    private var task: RepeatedTask?

    init(loop: any EventLoop, sink: any EventSink, ledger: PublishLedger, picker: AccountPicker) {
        self.loop = loop
        self.sink = sink
        self.ledger = ledger
        self.picker = picker
    }

    /// Starts publishing `eventsPerSecond` (on the loop).
    func start(eventsPerSecond: Double) {
        loop.preconditionInEventLoop()
        task?.cancel()
        guard eventsPerSecond > 0 else { return }
        let startedAt = WallClock.monotonic()
        let issued = NIOLoopBoundBox.makeBoxSendingValue(0, eventLoop: loop)
        let burst = max(1, Int(eventsPerSecond * 0.05))
        task = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(2)) { _ in
            let elapsed = Double(WallClock.monotonic() - startedAt) / 1e9
            let due = Int(eventsPerSecond * elapsed) + 1
            var budget = min(due - issued.value, burst)
            if due - issued.value > burst { issued.value = due - burst }  // drop what a stall made us miss
            while budget > 0 {
                budget -= 1
                issued.value += 1
                guard self.sink.canAccept else {
                    self.ledger.recordSkip()
                    continue
                }
                let account = self.picker.pick()
                self.sink.submit(PendingEvent(account: account, sequence: self.ledger.assign(account: account)))
            }
        }
    }

    /// Stops publishing (on the loop).
    func stop() {
        loop.preconditionInEventLoop()
        task?.cancel()
        task = nil
    }
}
