import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// The floor server's connections per group key, behind one lock (taken once per publish and
/// once per connect/disconnect, never per delivery).
final class SubscriberRegistry: Sendable {
    private let groups = NIOLockedValueBox<[String: [ObjectIdentifier: Channel]]>([:])

    func add(_ channel: Channel, key: String) {
        groups.withLockedValue { $0[key, default: [:]][ObjectIdentifier(channel)] = channel }
    }

    func remove(_ channel: Channel, key: String) {
        groups.withLockedValue { $0[key]?[ObjectIdentifier(channel)] = nil }
    }

    var count: Int { groups.withLockedValue { $0.values.reduce(0) { $0 + $1.count } } }

    /// Writes `payload` as one text frame, built once, to every connection of `key`: one task
    /// and one flush per event loop.
    func broadcast(_ payload: ByteBuffer, key: String) {
        let channels = groups.withLockedValue { Array(($0[key] ?? [:]).values) }
        let frame = WebSocketFrame(fin: true, opcode: .text, data: payload)
        var byLoop = [ObjectIdentifier: (loop: any EventLoop, channels: [Channel])]()
        for channel in channels {
            byLoop[ObjectIdentifier(channel.eventLoop), default: (channel.eventLoop, [])].channels.append(channel)
        }
        for (_, entry) in byLoop {
            let targets = entry.channels
            entry.loop.execute {
                for channel in targets { channel.write(frame, promise: nil) }
                for channel in targets { channel.flush() }
            }
        }
    }
}
