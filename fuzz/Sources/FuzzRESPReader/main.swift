// Replies from Redis through hiredis's reader, fed in two pieces at a point the input picks.
@testable import PubSubBridge
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESPReader(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let split = bytes.first else { return 0 }
    let body = bytes.dropFirst()
    let cut = body.startIndex + Int(split) % (body.count + 1)
    let reader = RESPReader()
    for piece in [body[..<cut], body[cut...]] {
        do {
            try reader.feed(ByteBuffer(bytes: piece))
            var replies = 0
            while try reader.next() != nil, replies < 10_000 { replies += 1 }
        } catch {
            return 0
        }
    }
    return 0
}
