// Raw bytes on a node's HTTP port: NIO's HTTP/1.1 parser, the route table, head-time admission,
// the publish endpoint's body validation (against an embedded broker), and WebSocket paths.
@testable import EdgeNode
import HeraldBroker
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The node's parts, built once: the metrics registry lives for the process, as in a node.
let loop = EmbeddedEventLoop()
let router: HTTPRouter = {
    let broker = EmbeddedBroker(eventLoop: loop)
    broker.start(deliver: { _, _ in }, subscribed: { _ in }, readinessChanged: { _ in })
    let metrics = NodeMetrics()
    var router = HTTPRouter()
    router.add(.GET, "/healthz", HealthEndpoint())
    router.add(.POST, "/api/v1/publish", PublishEndpoint(
        broker: broker, apiKeys: APIKeyVerifier(keys: ["key"]), metrics: metrics, maxBodyBytes: 64 * 1024, batch: false))
    router.add(.POST, "/api/v1/publish/batch", PublishEndpoint(
        broker: broker, apiKeys: APIKeyVerifier(keys: ["key"]), metrics: metrics, maxBodyBytes: 64 * 1024, batch: true))
    return router
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let channel = EmbeddedChannel(loop: loop)
    do {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
        try channel.pipeline.syncOperations.addHandler(HTTPRequestHandler(router: router, requestTimeout: .seconds(1), slot: HandshakeSlot()))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        loop.run()
    } catch {
        // Malformed HTTP is refused by the codec: expected.
    }
    if let text = String(validating: bytes, as: UTF8.self) { _ = WebSocketRoute(uri: text) }
    _ = try? channel.finish()
    return 0
}
