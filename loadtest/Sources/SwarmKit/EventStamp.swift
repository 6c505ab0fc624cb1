import NIOCore

/// The sequence number and send time every `swarm` event carries inside `data`, and the two
/// directions of its wire form: `{"type":"swarm","data":{"seq":12,"ts":1732…,"pad":"xx"}}`.
///
/// Decoding scans the raw frame bytes for `"seq":` and `"ts":` instead of parsing JSON, so it
/// works on any server's framing of the event (Herald prepends `"offset"`, Nchan passes the body
/// through, Centrifuge wraps it in a push) and costs a few hundred nanoseconds per frame.
public struct EventStamp: Sendable, Hashable {
    /// Per-account sequence number, starting at 1.
    public var sequence: UInt64
    /// Wall-clock send time in nanoseconds since the Unix epoch.
    public var sentAtNanoseconds: UInt64

    public init(sequence: UInt64, sentAtNanoseconds: UInt64) {
        self.sequence = sequence
        self.sentAtNanoseconds = sentAtNanoseconds
    }

    /// The `data` object alone: `{"seq":12,"ts":1732…,"pad":"xx"}`, padded so the whole event
    /// (`{"type":"swarm","data":…}`) is about `eventBytes` long.
    public func dataJSON(eventBytes: Int) -> String {
        let bare = #"{"seq":\#(sequence),"ts":\#(sentAtNanoseconds),"pad":""}"#
        let envelope = #"{"type":"swarm","data":}"#.utf8.count
        let padding = max(0, eventBytes - bare.utf8.count - envelope)
        return #"{"seq":\#(sequence),"ts":\#(sentAtNanoseconds),"pad":"\#(String(repeating: "x", count: padding))"}"#
    }

    /// The whole event: `{"type":"swarm","data":{…}}`, about `eventBytes` long.
    public func eventJSON(eventBytes: Int) -> String {
        #"{"type":"swarm","data":\#(dataJSON(eventBytes: eventBytes))}"#
    }

    /// Finds the stamp in a frame's bytes, or nil when the frame carries none (welcome, pong…).
    public static func find(in bytes: UnsafeRawBufferPointer) -> EventStamp? {
        guard let sequence = number(after: seqKey, in: bytes),
            let sent = number(after: tsKey, in: bytes)
        else { return nil }
        return EventStamp(sequence: sequence, sentAtNanoseconds: sent)
    }

    /// Finds the stamp in a buffer's readable bytes.
    public static func find(in buffer: ByteBuffer) -> EventStamp? {
        buffer.withUnsafeReadableBytes { find(in: $0) }
    }

    /// Calls `body` with the stamp of each newline-separated message in a frame and returns how
    /// many there were. Centrifuge batches several JSON pushes into one frame, one per line; a
    /// newline never occurs inside a JSON string, so one-message frames are one line.
    @discardableResult
    public static func forEach(in bytes: UnsafeRawBufferPointer, _ body: (EventStamp) -> Void) -> Int {
        var found = 0
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            if let stamp = find(in: UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
                body(stamp)
                found += 1
            }
            start = end + 1
        }
        return found
    }

    /// ``forEach(in:_:)`` over a buffer's readable bytes.
    @discardableResult
    public static func forEach(in buffer: ByteBuffer, _ body: (EventStamp) -> Void) -> Int {
        buffer.withUnsafeReadableBytes { forEach(in: $0, body) }
    }

    private static let seqKey = Array(#""seq":"#.utf8)
    private static let tsKey = Array(#""ts":"#.utf8)

    /// The unsigned decimal right after the first occurrence of `key`.
    private static func number(after key: [UInt8], in bytes: UnsafeRawBufferPointer) -> UInt64? {
        let count = bytes.count
        guard count >= key.count else { return nil }
        var index = 0
        let first = key[0]
        while index <= count - key.count {
            if bytes[index] == first {
                var matched = true
                for offset in 1..<key.count where bytes[index + offset] != key[offset] {
                    matched = false
                    break
                }
                if matched {
                    var cursor = index + key.count
                    while cursor < count, bytes[cursor] == UInt8(ascii: " ") { cursor += 1 }
                    var value: UInt64 = 0
                    var digits = 0
                    while cursor < count, bytes[cursor] >= 48, bytes[cursor] <= 57 {
                        value = value &* 10 &+ UInt64(bytes[cursor] - 48)
                        digits += 1
                        cursor += 1
                    }
                    return digits > 0 ? value : nil
                }
            }
            index += 1
        }
        return nil
    }
}
