// Bytes after a WebSocket upgrade: NIO's frame decoder, Herald's RFC 6455 validator and the
// aggregator, as every connection has them.
@testable import EdgeNode
import NIOCore
import HeraldProtocol
import NIOEmbedded
import NIOWebSocket

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrames(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let channel = EmbeddedChannel()
    do {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 16)))
        try WebSocketFramePipeline.addHandlers(to: channel.pipeline.syncOperations, maxMessageBytes: 1 << 16)
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        while let frame = try channel.readInbound(as: WebSocketFrame.self) {
            if frame.opcode == .text { precondition(UTF8Validator.isValid(frame.unmaskedData.readableBytesView)) }
        }
    } catch {
        // Protocol violations surface as errors: expected.
    }
    _ = try? channel.finish()
    return 0
}
