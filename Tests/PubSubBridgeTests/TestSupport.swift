import Foundation
import NIOCore

/// A bounded wait ran out.
struct TestTimeout: Error, CustomStringConvertible {
    let description: String
}

/// Polls `condition` until it holds, failing after `timeout` so no test can hang.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() {
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestTimeout(description: "timed out after \(timeout) waiting until \(what)")
}

extension EventLoopFuture where Value: Sendable {
    /// The future's value, or a ``TestTimeout`` if it does not complete within `timeout`.
    func get(within timeout: TimeAmount) async throws -> Value {
        let bounded = self.eventLoop.makePromise(of: Value.self)
        let timer = self.eventLoop.scheduleTask(in: timeout) {
            bounded.fail(TestTimeout(description: "future did not complete within \(timeout)"))
        }
        self.whenComplete { result in
            timer.cancel()
            bounded.completeWith(result)
        }
        return try await bounded.futureResult.get()
    }
}

/// Collects values from callbacks running on other threads.
final class Recorder<Element: Sendable>: @unchecked Sendable {
    // Guards `elements`.
    private let lock = NSLock()
    private var elements: [Element] = []

    func append(_ element: Element) {
        self.lock.withLock { self.elements.append(element) }
    }

    var values: [Element] {
        self.lock.withLock { self.elements }
    }

    var count: Int {
        self.lock.withLock { self.elements.count }
    }
}

/// SplitMix64: a tiny seeded generator so randomized code is reproducible in tests.
struct SeededRandomNumberGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
