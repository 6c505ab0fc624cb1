import NIOCore
import NIOHTTP1

/// Builds each accepted connection's pipeline: HTTP/1.1 with the transports' upgraders, and the
/// HTTP request handler that answers everything else from the route table.
///
/// NIO's upgrade handler only looks at a connection's first request and leaves the pipeline when
/// it is not an upgrade. Load balancers reuse idle keep-alive connections for new clients'
/// upgrades (HAProxy does), so when a later request on the connection asks for an upgrade, a
/// fresh upgrade handler is put in front of the HTTP handler and handed that request: every
/// request may be an upgrade, and plain requests (publishes) pay nothing for it.
struct ConnectionInitializer: Sendable {
    let router: HTTPRouter
    let webSockets: WebSocketEntries
    let requestTimeout: TimeAmount

    func configure(channel: Channel) throws {
        let slot = NIOLoopBound(HandshakeSlot(), eventLoop: channel.eventLoop)
        let httpHandler = HTTPRequestHandler(router: router, requestTimeout: requestTimeout, slot: slot.value)
        let boundHTTPHandler = NIOLoopBound(httpHandler, eventLoop: channel.eventLoop)
        let completion: @Sendable (ChannelHandlerContext) -> Void = { context in
            context.pipeline.syncOperations.removeHandler(boundHTTPHandler.value, promise: nil)
        }
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [webSockets.makeUpgrader(slot: slot)], completionHandler: completion)
        )
        try channel.pipeline.syncOperations.addHandler(httpHandler)
        let webSockets = self.webSockets
        // No reference to the channel here: a weak one would give every channel a side table, and
        // every retain of it (several per delivery) would take the slow path.
        httpHandler.upgradeLater = { head, pipeline in
            (try? Self.upgrade(
                head, in: pipeline, before: boundHTTPHandler.value, upgrader: webSockets.makeUpgrader(slot: slot), completion: completion
            )) != nil
        }
    }

    /// Puts an upgrade handler in front of `handler`, sharing the HTTP handlers
    /// `configureHTTPServerPipeline` set up (the upgrade removes them when it happens), and hands
    /// it `head`; the rest of the request reaches it through the pipeline.
    private static func upgrade(
        _ head: HTTPRequestHead, in pipeline: ChannelPipeline.SynchronousOperations, before handler: HTTPRequestHandler,
        upgrader: any HTTPServerProtocolUpgrader, completion: @escaping @Sendable (ChannelHandlerContext) -> Void
    ) throws {
        guard (try? pipeline.handler(type: HTTPServerUpgradeHandler.self)) == nil else { throw ChannelPipelineError.alreadyRemoved }
        var extra: [RemovableChannelHandler] = [try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)]
        if let pipelining = try? pipeline.handler(type: HTTPServerPipelineHandler.self) { extra.append(pipelining) }
        if let validator = try? pipeline.handler(type: NIOHTTPResponseHeadersValidator.self) { extra.append(validator) }
        if let errors = try? pipeline.handler(type: HTTPServerProtocolErrorHandler.self) { extra.append(errors) }
        let upgradeHandler = HTTPServerUpgradeHandler(
            upgraders: [upgrader], httpEncoder: try pipeline.handler(type: HTTPResponseEncoder.self), extraHTTPHandlers: extra,
            upgradeCompletionHandler: completion)
        try pipeline.addHandler(upgradeHandler, position: .before(handler))
        let context = try pipeline.context(handler: upgradeHandler)
        upgradeHandler.channelRead(context: context, data: NIOAny(HTTPServerRequestPart.head(head)))
    }
}
