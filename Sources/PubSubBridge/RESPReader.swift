import CHiredis
import NIOCore

/// Incremental RESP parser: hiredis's `redisReader` turns fed bytes into replies, converted to ``RESPValue``.
///
/// Not thread-safe; owned by one channel handler. Once it reports a protocol error it stays failed.
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private let allocator: ByteBufferAllocator

    init(allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        guard let reader = redisReaderCreate() else {
            fatalError("hiredis could not allocate a reply reader (out of memory)")
        }
        self.reader = reader
        self.allocator = allocator
    }

    deinit {
        redisReaderFree(self.reader)
    }

    /// Hands bytes to the parser; call ``next()`` afterwards until it returns `nil`.
    func feed(_ buffer: ByteBuffer) throws(RedisError) {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return REDIS_OK }
            return redisReaderFeed(self.reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK {
            throw self.currentError()
        }
    }

    /// The next complete reply, or `nil` if more bytes are needed.
    func next() throws(RedisError) -> RESPValue? {
        var replyPointer: UnsafeMutableRawPointer?
        guard redisReaderGetReply(self.reader, &replyPointer) == REDIS_OK else {
            throw self.currentError()
        }
        guard let replyPointer else { return nil }
        let reply = replyPointer.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(reply) }
        return self.convert(reply)
    }

    private func currentError() -> RedisError {
        let message = withUnsafeBytes(of: self.reader.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return .protocolError(message.isEmpty ? "hiredis reader error \(self.reader.pointee.err)" : message)
    }

    private func convert(_ reply: UnsafePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            var buffer = self.allocator.buffer(capacity: node.len)
            if node.len > 0, let bytes = node.str {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: node.len))
            }
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .simpleString(Self.text(node))
        case REDIS_REPLY_ERROR:
            return .error(Self.text(node))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(node.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                if let element = node.element[index] {
                    elements.append(self.convert(element))
                } else {
                    elements.append(.null)
                }
            }
            return .array(elements)
        default:
            // hiredis 0.14 only produces the six RESP2 types above.
            return .error("unsupported hiredis reply type \(node.type)")
        }
    }

    private static func text(_ node: redisReply) -> String {
        guard node.len > 0, let bytes = node.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: node.len), as: UTF8.self)
    }
}
