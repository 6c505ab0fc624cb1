// Offsets from clients (`since`, `Last-Event-ID`): parsing must round-trip exactly or refuse.
import HeraldProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamOffset(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    if let offset = StreamOffset(text) {
        precondition(offset.description == text, "an offset must print as it was written")
        precondition(StreamOffset(offset.description) == offset)
    }
    return 0
}
