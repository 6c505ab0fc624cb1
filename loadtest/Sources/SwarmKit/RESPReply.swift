import NIOCore

/// The one thing `swarm` needs from a Redis reply: success or an error line. Parsed from RESP2
/// (`+`, `-`, `:`, `$`, `*` replies; arrays and bulk strings are skipped over whole).
enum RESPReply: Sendable, Equatable {
    case success
    case error(String)

    /// Reads one whole reply from `buffer`, or returns nil (buffer untouched) if more bytes are needed.
    static func read(from buffer: inout ByteBuffer) -> RESPReply? {
        var copy = buffer
        guard let reply = readValue(&copy) else { return nil }
        buffer = copy
        return reply
    }

    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")), view.index(after: cr) < view.endIndex else { return nil }
        let length = cr - view.startIndex
        let line = buffer.readString(length: length)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func readValue(_ buffer: inout ByteBuffer) -> RESPReply? {
        guard let line = readLine(&buffer), let kind = line.first else { return nil }
        let rest = line.dropFirst()
        switch kind {
        case "-":
            return .error(String(rest))
        case "$":
            guard let length = Int(rest) else { return .error("bad bulk length") }
            if length < 0 { return .success }
            guard buffer.readableBytes >= length + 2 else { return nil }
            buffer.moveReaderIndex(forwardBy: length + 2)
            return .success
        case "*":
            guard let count = Int(rest) else { return .error("bad array length") }
            for _ in 0..<max(0, count) {
                guard readValue(&buffer) != nil else { return nil }
            }
            return .success
        default:
            return .success
        }
    }

    /// Writes a command as a RESP array of bulk strings.
    static func writeCommand(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            buffer.writeString("$\(argument.utf8.count)\r\n")
            buffer.writeString(argument)
            buffer.writeString("\r\n")
        }
    }
}
