import NIOConcurrencyHelpers
import NIOCore

/// The node's open SSE streams by connection id, so a posted message reaches its stream on
/// whichever event loop holds it. One entry per open stream (removed when it ends), so the table
/// is bounded by the node's connections.
final class ServerSentEventsConnections: Sendable {
    private struct Entry: Sendable {
        var eventLoop: EventLoop
        var transport: NIOLoopBound<ServerSentEventsTransport>
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    init() {}

    /// Call on `eventLoop`, the stream's.
    func add(_ transport: ServerSentEventsTransport, id: String, eventLoop: EventLoop) {
        let entry = Entry(eventLoop: eventLoop, transport: NIOLoopBound(transport, eventLoop: eventLoop))
        entries.withLockedValue { $0[id] = entry }
    }

    func remove(id: String) {
        _ = entries.withLockedValue { $0.removeValue(forKey: id) }
    }

    /// Runs `body` with the stream `id` on its event loop; nil when no such stream is open here.
    func withConnection<Result: Sendable>(
        _ id: String, _ body: @escaping @Sendable (ServerSentEventsTransport, EventLoop) -> EventLoopFuture<Result>
    ) -> EventLoopFuture<Result>? {
        guard let entry = entries.withLockedValue({ $0[id] }) else { return nil }
        return entry.eventLoop.flatSubmit { body(entry.transport.value, entry.eventLoop) }
    }
}
