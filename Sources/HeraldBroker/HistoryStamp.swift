import NIOCore

/// Puts `"offset"` first in a JSON object event, byte for byte as Herald's Redis publish function
/// does, so the embedded broker and Redis deliver identical frames.
enum HistoryStamp {
    /// Returns `{"offset":"<offset>",…rest}`; nil when `event` does not start with a JSON object.
    static func stamp(_ event: ByteBuffer, offset: String) -> ByteBuffer? {
        let bytes = event.readableBytesView
        guard let open = bytes.firstIndex(where: { !isWhitespace($0) }), bytes[open] == UInt8(ascii: "{") else { return nil }
        let rest = bytes[bytes.index(after: open)...]
        let isEmptyObject = rest.first(where: { !isWhitespace($0) }) == UInt8(ascii: "}")
        var stamped = ByteBuffer()
        stamped.reserveCapacity(event.readableBytes + offset.utf8.count + 12)
        stamped.writeString(#"{"offset":""#)
        stamped.writeString(offset)
        stamped.writeString(isEmptyObject ? #"""# : #"","#)
        stamped.writeBytes(isEmptyObject ? rest.drop(while: isWhitespace) : rest)
        return stamped
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
