/// The event `type`s that belong to Herald, so a publisher can never forge a server frame.
///
/// Server-only types are never legitimate from a publisher: nodes drop them from the broker and
/// the HTTP API refuses them. Herald-published types are what Herald's own presence functions put
/// into Redis: nodes deliver them from the broker, but the HTTP API refuses them too.
public enum ReservedEventType {
    public static let connected = "connected"
    public static let recovery = "recovery"
    public static let pong = "pong"
    public static let error = "error"
    public static let ack = "ack"
    public static let presenceState = "presence.state"
    public static let refreshed = "refreshed"
    public static let presenceJoin = "presence.join"
    public static let presenceLeave = "presence.leave"
    public static let typingStart = "typing.start"
    public static let typingStop = "typing.stop"

    /// Types only a node itself sends to its clients.
    public static let serverOnly: [String] = [connected, recovery, pong, error, ack, presenceState, refreshed]
    /// Types Herald publishes through the broker itself (presence and typing).
    public static let heraldPublished: [String] = [presenceJoin, presenceLeave, typingStart, typingStop]

    /// True when `type`'s bytes are exactly a server-only type.
    public static func isServerOnly(_ type: String) -> Bool {
        serverOnly.contains { $0.utf8.elementsEqual(type.utf8) }
    }

    /// True when `type`'s bytes are exactly any reserved type (refused at the HTTP API).
    public static func isReserved(_ type: String) -> Bool {
        isServerOnly(type) || heraldPublished.contains { $0.utf8.elementsEqual(type.utf8) }
    }
}
