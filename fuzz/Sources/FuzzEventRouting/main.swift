// Published events: the strict JSON scanner and the routing read from it. Also checks that an
// event the scanner accepts is valid UTF-8 (nothing invalid may reach a text frame).
import HeraldProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventRouting(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    if let routing = try? EventRouting.parse(bytes) {
        precondition(UTF8Validator.isValid(bytes), "routing accepted invalid UTF-8")
        _ = routing.selects(user: "alice", isSubscribed: { _ in true })
    }
    return 0
}
