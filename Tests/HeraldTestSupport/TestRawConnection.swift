import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A plain TCP connection for tests that must control the bytes on the wire exactly (several
/// HTTP requests on one keep-alive connection, then an upgrade).
public final class TestRawConnection: Sendable {
    private let channel: Channel
    private let received: NIOLockedValueBox<[UInt8]>

    private init(channel: Channel, received: NIOLockedValueBox<[UInt8]>) {
        self.channel = channel
        self.received = received
    }

    public static func connect(port: Int) async throws -> TestRawConnection {
        let received = NIOLockedValueBox<[UInt8]>([])
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received: received)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TestRawConnection(channel: channel, received: received)
    }

    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Waits (bounded) until what arrived so far satisfies `done`; returns all of it as text.
    public func receive(until done: (String) -> Bool, timeout: Duration = .seconds(5)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = String(decoding: received.withLockedValue { $0 }, as: UTF8.self)
            if done(text) { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        return String(decoding: received.withLockedValue { $0 }, as: UTF8.self)
    }

    /// Whether the server (or this side) closed the connection.
    public var isClosed: Bool { !channel.isActive }

    public func close() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>
        init(received: NIOLockedValueBox<[UInt8]>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLockedValue { $0.append(contentsOf: buffer.readableBytesView) }
        }
    }
}
