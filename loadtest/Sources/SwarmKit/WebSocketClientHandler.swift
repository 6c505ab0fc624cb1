import NIOCore
import NIOWebSocket

/// The per-connection handler once the upgrade is done: sends the generic `hello` frame if any,
/// counts stamped messages into its loop's ``LoopTally`` (several per frame when the server batches
/// them one per line), marks the connection established (at the `connected` frame for Herald, at
/// the server's first frame after a `hello`, at the upgrade otherwise), answers pings and closes.
/// Client frames are masked (RFC 6455 §5.3).
final class WebSocketClientHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let slot: Int
    private let tally: LoopTally
    private let waitsForWelcome: Bool
    private let hello: String?
    private let subscriptions: [String]
    private let onEstablished: (ChannelHandlerContext, String?, String?) -> Void
    private var established = false
    private var textBuffer: ByteBuffer?
    /// The `offset` of this connection's `connected` frame.
    private var connectedOffset: String?

    /// - Parameters:
    ///   - slot: the connection slot this channel serves.
    ///   - tally: the loop's tally (this handler runs on that loop).
    ///   - waitsForWelcome: true for Herald: established at the `connected` frame.
    ///   - hello: a text frame sent right after the upgrade (generic mode, e.g. Centrifuge's
    ///     connect command); the connection is then established at the server's first frame.
    ///   - subscriptions: sub-channels to subscribe to once established.
    ///   - onEstablished: called once, on the loop, when the connection counts as established,
    ///     with the node id and history offset of the `connected` frame (Herald).
    init(
        slot: Int, tally: LoopTally, waitsForWelcome: Bool, hello: String? = nil, subscriptions: [String],
        onEstablished: @escaping (ChannelHandlerContext, String?, String?) -> Void
    ) {
        self.slot = slot
        self.tally = tally
        self.waitsForWelcome = waitsForWelcome
        self.hello = hello
        self.subscriptions = subscriptions
        self.onEstablished = onEstablished
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let hello {
            var payload = context.channel.allocator.buffer(capacity: hello.utf8.count)
            payload.writeString(hello)
            send(opcode: .text, data: payload, context: context)
        } else if !waitsForWelcome {
            markEstablished(context: context, node: nil, offset: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text where frame.fin && textBuffer == nil:
            received(text: frame.unmaskedData, context: context)
        case .text:
            textBuffer = frame.unmaskedData
        case .continuation:
            var more = frame.unmaskedData
            textBuffer?.writeBuffer(&more)
            if frame.fin, let whole = textBuffer {
                textBuffer = nil
                received(text: whole, context: context)
            }
        case .ping:
            send(opcode: .pong, data: frame.unmaskedData, context: context)
        case .connectionClose:
            send(opcode: .connectionClose, data: context.channel.allocator.buffer(capacity: 0), context: context)
            context.close(promise: nil)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func received(text: ByteBuffer, context: ChannelHandlerContext) {
        let now = WallClock.nanoseconds()
        // Herald puts a history event's offset first, so this is a prefix check.
        let offset = waitsForWelcome ? FrameScan.leadingOffset(in: text) : nil
        let stamps = EventStamp.forEach(in: text) { stamp in
            tally.recordDelivery(slot: slot, stamp: stamp, now: now, offset: offset)
        }
        if stamps > 0 { return }
        tally.otherFrames += 1
        if !established, hello != nil {
            markEstablished(context: context, node: nil, offset: nil)  // the server's answer to the hello
            return
        }
        guard waitsForWelcome else { return }
        // Herald's first frame; its keys come in no fixed order, so look for the pair anywhere.
        if !established {
            if text.readableBytesView.firstRange(of: Self.welcomeMarker) != nil {
                connectedOffset = FrameScan.offset(in: text)
                markEstablished(context: context, node: Self.node(in: text), offset: connectedOffset)
            }
            return
        }
        if let offset = FrameScan.leadingOffset(in: text) {
            tally.recordOffset(slot: slot, offset: offset)
            return
        }
        count(text)
    }

    /// Counts one Herald frame that is neither an event nor the `connected` frame.
    private func count(_ text: ByteBuffer) {
        switch FrameScan.type(in: text) {
        case "recovery":
            if let recovery = FrameScan.recovery(in: text) {
                tally.recordRecovery(slot: slot, recovery: recovery, connectedOffset: connectedOffset, now: WallClock.monotonic())
            }
        case "presence.state": tally.frames.presenceStates += 1
        case "presence.join", "presence.leave": tally.frames.presenceEvents += 1
        case "typing.start", "typing.stop": tally.frames.typingEvents += 1
        case "error":
            tally.frames.errors += 1
            let code = FrameScan.stringValue(of: "code", in: text) ?? "none"
            tally.frames.errorCodes[code, default: 0] += 1
            if code == "rate_limited" { tally.frames.rateLimited += 1 }
        default: break
        }
    }

    private func markEstablished(context: ChannelHandlerContext, node: String?, offset: String?) {
        established = true
        onEstablished(context, node, offset)
        for channel in subscriptions {
            var payload = context.channel.allocator.buffer(capacity: 48)
            payload.writeString(#"{"type":"subscribe","channel":"\#(channel)"}"#)
            send(opcode: .text, data: payload, context: context)
        }
    }

    /// Writes one masked frame.
    private func send(opcode: WebSocketOpcode, data: ByteBuffer, context: ChannelHandlerContext) {
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: data)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    private static let welcomeMarker = Array(#""type":"connected""#.utf8)

    /// The `"node":"…"` value of a `connected` frame.
    static func node(in text: ByteBuffer) -> String? {
        guard let string = text.getString(at: text.readerIndex, length: text.readableBytes),
            let key = string.range(of: #""node":""#),
            let end = string[key.upperBound...].firstIndex(of: "\"")
        else { return nil }
        return String(string[key.upperBound..<end])
    }
}
