extension ClientMessage {
    /// A client message's top-level `data`, as the bytes the client sent.
    public enum RawData: Sendable, Equatable {
        /// The message has no `data`.
        case absent
        /// The JSON text of `data`, byte for byte: key order, spacing, escapes and number spelling kept.
        case value([UInt8])
        /// The message cannot be carried unchanged: not strict JSON, or `data` given twice (which
        /// one a backend's parser keeps is its own choice). The text says why, for the client.
        case refused(String)
    }

    /// The bytes of `text`'s top-level `data`, validated once with ``JSONScanner`` (strict
    /// RFC 8259, valid UTF-8), so the backend receives exactly what the client sent.
    public static func rawData(in text: some Collection<UInt8>) -> RawData {
        text.withContiguousBytes { bytes in
            let outline: JSONOutline
            do {
                outline = try JSONScanner().scan(bytes)
            } catch {
                return .refused("the message is not strict JSON: \(error)")
            }
            let members = outline.members.filter { $0.key.isString("data", in: bytes) }
            guard members.count <= 1 else { return .refused("'data' appears more than once") }
            guard let data = members.first?.value else { return .absent }
            return .value(Array(bytes[data.range]))
        }
    }
}
