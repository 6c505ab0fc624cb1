// Client messages through the whole client protocol: parsing, flood control, subscriptions,
// typing, resume and the replay deferral. Whatever the bytes, no crash and no unbounded state.
@testable import EdgeNode
import HeraldProtocol
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientMessage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    var session = ClientSession(
        identity: ClientIdentity(user: "alice", account: "42", channels: ["inbox", "kpi:*"]),
        maxSubscriptions: 4, messagesPerSecond: 1_000_000, burst: 1_000_000, now: .uptimeNanoseconds(1))
    // Each line is one message; odd lines arrive while a replay runs.
    for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        session.defersSubscriptionChanges = index % 2 == 1
        _ = session.receive(text: line, now: .uptimeNanoseconds(UInt64(1 + index) * 1_000_000))
        if !session.defersSubscriptionChanges, let deferred = session.takeDeferred() {
            _ = session.handle(deferred, now: .uptimeNanoseconds(UInt64(1 + index) * 1_000_000))
        }
    }
    precondition(session.subscriptions.count <= 4, "more subscriptions than allowed")
    return 0
}
