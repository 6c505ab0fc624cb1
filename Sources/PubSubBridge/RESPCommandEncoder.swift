import CHiredis
import NIOCore

/// Formats a command as a RESP array of bulk strings with hiredis's `redisFormatCommandArgv`.
enum RESPCommandEncoder {
    /// Appends the RESP encoding of `arguments` (command name first) to `buffer`.
    static func encode(_ arguments: [ByteBuffer], into buffer: inout ByteBuffer) {
        precondition(!arguments.isEmpty, "a Redis command needs at least its name")
        // hiredis needs every argument at a stable address at once, so the arguments are laid out back to back.
        var storage: [UInt8] = []
        storage.reserveCapacity(arguments.reduce(1) { $0 + $1.readableBytes })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.readableBytes)
            storage.append(contentsOf: argument.readableBytesView)
        }
        storage.append(0)  // keeps the base address non-nil when every argument is empty

        storage.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { characters in
                let base = characters.baseAddress!
                var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
                var target: UnsafeMutablePointer<CChar>?
                let length = argv.withUnsafeMutableBufferPointer { argvPointer in
                    lengths.withUnsafeBufferPointer { lengthsPointer in
                        redisFormatCommandArgv(&target, Int32(arguments.count), argvPointer.baseAddress, lengthsPointer.baseAddress)
                    }
                }
                guard length >= 0, let target else {
                    fatalError("hiredis could not format a command (out of memory)")
                }
                defer { redisFreeCommand(target) }
                buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
            }
        }
    }

    /// The RESP encoding of `arguments` in a new buffer.
    static func encode(_ arguments: [ByteBuffer], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.readableBytes + 16 })
        Self.encode(arguments, into: &buffer)
        return buffer
    }
}
