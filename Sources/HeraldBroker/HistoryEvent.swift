import HeraldProtocol
import NIOCore

/// One event from an account's history, with its offset.
public struct HistoryEvent: Sendable, Equatable {
    public var offset: StreamOffset
    /// The event bytes exactly as live clients received them, `"offset"` included.
    public var payload: ByteBuffer

    public init(offset: StreamOffset, payload: ByteBuffer) {
        self.offset = offset
        self.payload = payload
    }
}
