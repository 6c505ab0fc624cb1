import NIOCore
import NIOHTTP1
import NIOWebSocket

/// A transport reached by a WebSocket upgrade: it decides on the upgrade request, then builds
/// the connection's pipeline once upgraded.
protocol WebSocketEntry: Sendable {
    /// Whether the request's path is this entry's.
    func accepts(_ head: HTTPRequestHead) -> Bool
    /// The headers to upgrade with, or nil to refuse (a refusal to answer goes into `slot`).
    func shouldUpgrade(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) -> EventLoopFuture<HTTPHeaders?>
    /// Adds the handlers of an upgraded connection.
    func upgraded(channel: Channel, head: HTTPRequestHead, slot: NIOLoopBound<HandshakeSlot>) throws
}

/// The node's one WebSocket upgrader (NIO allows one per protocol name), which hands each upgrade
/// to the entry whose path it is: Herald's `/ws`, Socket.IO's `/socket.io/`.
struct WebSocketEntries: Sendable {
    private(set) var entries: [any WebSocketEntry] = []
    let maxFrameSize: Int

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    mutating func add(_ entry: any WebSocketEntry) {
        entries.append(entry)
    }

    /// The upgrader for one connection.
    func makeUpgrader(slot: NIOLoopBound<HandshakeSlot>) -> NIOWebSocketServerUpgrader {
        let entries = self.entries
        return NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize,
            // Protocol errors are answered by each transport's handler (one handler less per connection).
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                guard let entry = entries.first(where: { $0.accepts(head) }) else { return channel.eventLoop.makeSucceededFuture(nil) }
                return entry.shouldUpgrade(channel: channel, head: head, slot: slot)
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    guard let entry = entries.first(where: { $0.accepts(head) }) else { throw ChannelError.inappropriateOperationForState }
                    try entry.upgraded(channel: channel, head: head, slot: slot)
                }
            }
        )
    }
}
