import Foundation

/// A message received by ``TestWebSocketClient``.
///
/// Fragmented text and binary messages are delivered whole. Pings from the server are answered automatically and
/// are never delivered; pongs are delivered so tests can check that the server answers WebSocket-level pings.
public enum TestWebSocketMessage: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
    case pong([UInt8])
    /// A close frame. `code` is `nil` when the frame carried no status code.
    case close(code: UInt16?, reason: String)

    /// The text of a `.text` message, otherwise `nil`.
    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    /// The bytes of a `.binary` message, otherwise `nil`.
    public var binary: [UInt8]? {
        if case .binary(let bytes) = self { return bytes }
        return nil
    }

    /// A `.text` message parsed as a JSON object with `JSONSerialization`; `nil` for other messages or other JSON.
    public var json: [String: Any]? {
        guard case .text(let text) = self, let data = text.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}
