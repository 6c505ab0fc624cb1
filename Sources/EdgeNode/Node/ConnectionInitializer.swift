import NIOCore
import NIOHTTP1

/// Builds each accepted connection's pipeline: HTTP/1.1 with the transports' upgraders, and the
/// HTTP request handler that answers everything else from the route table.
struct ConnectionInitializer: Sendable {
    let router: HTTPRouter
    let webSockets: WebSocketEntries
    let requestTimeout: TimeAmount

    func configure(channel: Channel) throws {
        let slot = NIOLoopBound(HandshakeSlot(), eventLoop: channel.eventLoop)
        let httpHandler = HTTPRequestHandler(router: router, requestTimeout: requestTimeout, slot: slot.value)
        let boundHTTPHandler = NIOLoopBound(httpHandler, eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [webSockets.makeUpgrader(slot: slot)],
                completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(boundHTTPHandler.value, promise: nil)
                }
            )
        )
        try channel.pipeline.syncOperations.addHandler(httpHandler)
    }
}
