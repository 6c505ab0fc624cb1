import HeraldProtocol

/// Which client messages go upstream to the backend, and how large they may be.
///
/// A client message whose `type` is not one Herald handles itself goes upstream when the policy
/// admits it; the rest are answered with `unknown_type`. Types reserved to Herald's own frames
/// (`ack`, `presence.join`, …) never go upstream.
public struct UpstreamPolicy: Sendable, Equatable {
    /// The allow-list: nil admits every non-reserved type; otherwise an entry ending in `*`
    /// admits every type starting with what precedes it (`notification:*`), any other entry
    /// exactly that type. Types compare byte for byte.
    public var types: [String]?
    /// The largest client message (its whole text) that goes upstream; larger ones are answered
    /// with `payload_too_large`.
    public var maxMessageBytes: Int

    public init(types: [String]? = nil, maxMessageBytes: Int = 16 * 1024) {
        self.types = types
        self.maxMessageBytes = maxMessageBytes
    }

    /// Whether a client message of `type` goes upstream.
    public func admits(_ type: String) -> Bool {
        guard !ReservedEventType.isReserved(type) else { return false }
        guard let types else { return true }
        return types.contains { entry in
            if entry.hasSuffix("*") { return type.utf8.starts(with: entry.utf8.dropLast()) }
            return entry.utf8.elementsEqual(type.utf8)
        }
    }

    /// Parses `HERALD_UPSTREAM_TYPES`: comma-separated entries; empty means every type.
    public static func types(from list: String) -> [String]? {
        let entries = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return entries.isEmpty ? nil : entries
    }
}
