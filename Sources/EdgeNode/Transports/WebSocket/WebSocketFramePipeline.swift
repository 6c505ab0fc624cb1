import NIOCore
import NIOWebSocket

/// The handlers every WebSocket connection gets after the upgrade, below the one that speaks a
/// protocol: RFC 6455 checks on each frame, then fragments joined into messages. Shared by the
/// node and the Autobahn echo server, so the conformance suite tests exactly what clients meet.
public enum WebSocketFramePipeline {
    /// Fragments one client message may arrive in, on a node.
    public static let maxFragments = 64

    /// Adds the frame validator and the aggregator; messages over `maxMessageBytes` or
    /// `maxFragments` fragments fail with an error that closes the connection with 1009.
    public static func addHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, maxMessageBytes: Int, maxFragments: Int = maxFragments
    ) throws {
        try pipeline.addHandler(WebSocketFrameValidator())
        try pipeline.addHandler(NIOWebSocketFrameAggregator(
            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: maxFragments, maxAccumulatedFrameSize: maxMessageBytes))
    }
}
