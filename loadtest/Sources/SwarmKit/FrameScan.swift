import NIOCore

/// Cheap byte scans of Herald's server frames, so the per-frame path parses no JSON: the history
/// `offset` an event carries (Herald writes it as the first key: `{"offset":"e:1-0","type":…}`),
/// the `offset` of the `connected` frame (its keys come in no fixed order), and the few frames
/// swarm counts by type (`recovery`, `presence.state`, typing and presence events, `error`).
public enum FrameScan {
    /// Longest offset accepted (`<epoch>:<ms>-<seq>`: epoch ≤ 32, ms and seq ≤ 20 digits each).
    static let maxOffsetBytes = 80

    /// The offset of an event stored in history: the value of `"offset"` when it is the frame's
    /// first key, or nil. Only `0-9 a-z : -` are accepted, so the value goes into a query string as is.
    public static func leadingOffset(in bytes: UnsafeRawBufferPointer) -> String? {
        guard bytes.count > leadingOffsetKey.count, bytes.starts(with: leadingOffsetKey) else { return nil }
        return offsetValue(in: bytes, from: leadingOffsetKey.count)
    }

    /// The value of the first `"offset":"…"` anywhere in the frame (the `connected` frame).
    public static func offset(in bytes: UnsafeRawBufferPointer) -> String? {
        guard let start = firstIndex(of: offsetKey, in: bytes) else { return nil }
        return offsetValue(in: bytes, from: start + offsetKey.count)
    }

    /// The value of the first `"type":"…"` (ASCII, at most 64 bytes), or nil.
    public static func type(in bytes: UnsafeRawBufferPointer) -> Substring? {
        stringValue(after: typeKey, in: bytes)
    }

    /// The value of the first `"<key>":"…"` (at most 64 bytes, no escapes), or nil: an error's
    /// `code`, a recovery's `reason`.
    public static func stringValue(of key: String, in bytes: UnsafeRawBufferPointer) -> String? {
        stringValue(after: Array("\"\(key)\":\"".utf8), in: bytes).map(String.init)
    }

    private static func stringValue(after key: [UInt8], in bytes: UnsafeRawBufferPointer) -> Substring? {
        guard let start = firstIndex(of: key, in: bytes) else { return nil }
        var end = start + key.count
        let limit = min(bytes.count, end + 64)
        while end < limit, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        guard end < limit, bytes[end] == UInt8(ascii: "\"") else { return nil }
        return Substring(decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + key.count)..<end]), as: UTF8.self)
    }

    /// What a `recovery` frame says: `{"type":"recovery","recovered":true|false,"count":n,…}`.
    public struct Recovery: Sendable, Equatable {
        /// False: a gap the server reported (the client should refetch).
        public var recovered: Bool
        /// Events replayed.
        public var count: Int
        /// Set for a sub-channel's recovery (before a subscribe's ack), nil for the resume's own.
        public var channel: Bool
        /// Why a gap happened (`out_of_window`, `too_many`, `unavailable`, …), when given.
        public var reason: String? = nil
    }

    /// The fields of a `recovery` frame (nil when the frame is not one).
    public static func recovery(in bytes: UnsafeRawBufferPointer) -> Recovery? {
        guard type(in: bytes) == "recovery" else { return nil }
        let recovered = firstIndex(of: recoveredTrue, in: bytes) != nil
        let count = firstIndex(of: countKey, in: bytes).flatMap { number(in: bytes, from: $0 + countKey.count) } ?? 0
        return Recovery(
            recovered: recovered, count: count, channel: firstIndex(of: channelKey, in: bytes) != nil,
            reason: recovered ? nil : stringValue(of: "reason", in: bytes))
    }

    /// Whether the frame contains `needle`.
    public static func contains(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Bool {
        firstIndex(of: needle, in: bytes) != nil
    }

    // MARK: Scanning

    private static let leadingOffsetKey = Array(#"{"offset":""#.utf8)
    private static let offsetKey = Array(#""offset":""#.utf8)
    private static let typeKey = Array(#""type":""#.utf8)
    private static let recoveredTrue = Array(#""recovered":true"#.utf8)
    private static let countKey = Array(#""count":"#.utf8)
    private static let channelKey = Array(#""channel":"#.utf8)

    /// The offset characters from `start` up to the closing quote; nil when any other byte comes
    /// first, the value is empty or too long.
    private static func offsetValue(in bytes: UnsafeRawBufferPointer, from start: Int) -> String? {
        var end = start
        let limit = min(bytes.count, start + maxOffsetBytes + 1)
        while end < limit {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") { break }
            let allowed =
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-")
            guard allowed else { return nil }
            end += 1
        }
        guard end < limit, end > start else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// An unsigned decimal at `start` (spaces skipped), or nil.
    private static func number(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var cursor = start
        while cursor < bytes.count, bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
        var value = 0
        var digits = 0
        while cursor < bytes.count, bytes[cursor] >= 48, bytes[cursor] <= 57, digits < 18 {
            value = value * 10 + Int(bytes[cursor] - 48)
            digits += 1
            cursor += 1
        }
        return digits > 0 ? value : nil
    }

    /// Index of the first occurrence of `needle`.
    static func firstIndex(of needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        let count = bytes.count
        guard !needle.isEmpty, count >= needle.count else { return nil }
        let first = needle[0]
        var index = 0
        while index <= count - needle.count {
            if bytes[index] == first {
                var matched = true
                for offset in 1..<needle.count where bytes[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }
}

extension FrameScan {
    /// ``leadingOffset(in:)`` of a buffer's readable bytes.
    public static func leadingOffset(in buffer: ByteBuffer) -> String? { buffer.withUnsafeReadableBytes { leadingOffset(in: $0) } }
    /// ``offset(in:)`` of a buffer's readable bytes.
    public static func offset(in buffer: ByteBuffer) -> String? { buffer.withUnsafeReadableBytes { offset(in: $0) } }
    /// ``recovery(in:)`` of a buffer's readable bytes.
    public static func recovery(in buffer: ByteBuffer) -> Recovery? { buffer.withUnsafeReadableBytes { recovery(in: $0) } }
    /// ``stringValue(of:in:)`` of a buffer's readable bytes.
    public static func stringValue(of key: String, in buffer: ByteBuffer) -> String? {
        buffer.withUnsafeReadableBytes { stringValue(of: key, in: $0) }
    }
    /// ``type(in:)`` of a buffer's readable bytes, as a String.
    public static func type(in buffer: ByteBuffer) -> String? { buffer.withUnsafeReadableBytes { type(in: $0).map(String.init) } }
}
