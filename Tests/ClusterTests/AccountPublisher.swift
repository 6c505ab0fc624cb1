import Foundation

/// Publishes one account's events with history through the load balancer's HTTP API, one at a time so the
/// account's order is the publish order, retrying each event until a node acknowledges it.
///
/// A retry is the same sequence number with the next `attempt`: a try whose answer was lost (its node died
/// mid-request) may still have been stored, so the test compares clients against the history stream, and
/// the acknowledged events against both.
final class AccountPublisher: @unchecked Sendable {
    /// An event a node acknowledged with its offset.
    struct Acknowledgement: Sendable {
        var seq: Int
        var attempt: Int
        var offset: String
    }

    let account: String
    private let cluster: LocalCluster
    private let interval: Duration
    // `acknowledged`, `failedTries` and `stopping` are guarded by `lock`.
    private let lock = NSLock()
    private var acknowledged: [Acknowledgement] = []
    private var failedTries = 0
    private var stopping = false

    init(account: String, cluster: LocalCluster, interval: Duration) {
        self.account = account
        self.cluster = cluster
        self.interval = interval
    }

    /// The acknowledged events, in publish order.
    var acknowledgements: [Acknowledgement] { lock.withLock { acknowledged } }
    /// Tries that failed (connection refused or reset, 5xx) and were retried.
    var failures: Int { lock.withLock { failedTries } }

    /// Asks ``run(phase:)`` to return after the event it is publishing.
    func stop() { lock.withLock { stopping = true } }

    /// Publishes `phase` events with sequence numbers 1, 2, … every `interval` until ``stop()``.
    func run(phase: Int) async throws {
        var seq = 0
        while !lock.withLock({ stopping }) {
            seq += 1
            try await publish(phase: phase, seq: seq)
            try await Task.sleep(for: interval)
        }
    }

    /// Publishes one event, retrying (up to 50 tries, 100 ms doubling to 1 s apart) until it is acknowledged.
    private func publish(phase: Int, seq: Int) async throws {
        var delay = 100.0
        var lastError = ""
        for attempt in 0..<50 {
            let body = #"{"account":"\#(account)","type":"\#(ReceivedEvent.type)","data":{"phase":\#(phase),"seq":\#(seq),"attempt":\#(attempt)}}"#
            do {
                let response = try await cluster.publishThroughLoadBalancer(body)
                if response.status == 200, let offset = response.json?["offset"] as? String {
                    lock.withLock { acknowledged.append(Acknowledgement(seq: seq, attempt: attempt, offset: offset)) }
                    return
                }
                lastError = "HTTP \(response.status) \(response.body)"
            } catch {
                lastError = "\(error)"
            }
            lock.withLock { failedTries += 1 }
            try await Task.sleep(for: .milliseconds(Int(delay)))
            delay = min(delay * 2, 1000)
        }
        throw ClusterTestFailure("publishing \(account) #\(seq) failed 50 times; last: \(lastError)")
    }
}
