import HeraldProtocol
import NIOCore
import NIOWebSocket

/// Enforces RFC 6455 on every frame a client sends, before fragments are joined: client frames
/// are masked, carry no reserved bits (Herald negotiates no extension) and no reserved opcode;
/// text is well-formed UTF-8 (checked fragment by fragment, so a bad message fails at once);
/// close frames carry either nothing or a valid code with a UTF-8 reason.
///
/// A violation is passed up as a ``Violation`` error carrying the close code the connection must
/// close with, and every later frame is dropped. Every transport over WebSocket uses this handler.
public final class WebSocketFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = WebSocketFrame
    public typealias InboundOut = WebSocketFrame

    /// A frame that breaks the protocol, and how the connection must end.
    public struct Violation: Error, Equatable, CustomStringConvertible {
        public var closeCode: CloseCode
        public var reason: String

        static func protocolError(_ reason: String) -> Self { Self(closeCode: .protocolError, reason: reason) }
        static func invalidPayload(_ reason: String) -> Self { Self(closeCode: .invalidPayload, reason: reason) }

        public var description: String { "\(closeCode.rawValue): \(reason)" }
    }

    private enum Message {
        case none
        case text(UTF8Validator)
        case binary
    }

    private var message = Message.none
    private var failed = false

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        do {
            try check(unwrapInboundIn(data))
        } catch {
            failed = true
            context.fireErrorCaught(error)
            return
        }
        context.fireChannelRead(data)
    }

    private func check(_ frame: WebSocketFrame) throws(Violation) {
        guard frame.maskKey != nil else { throw .protocolError("client frames must be masked") }
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else { throw .protocolError("reserved bits set without a negotiated extension") }
        switch frame.opcode {
        case .text:
            guard case .none = message else { throw .protocolError("a new message started before the previous one ended") }
            try continueText(UTF8Validator(), with: frame)
        case .binary:
            guard case .none = message else { throw .protocolError("a new message started before the previous one ended") }
            message = frame.fin ? .none : .binary
        case .continuation:
            switch message {
            case .none: throw .protocolError("a continuation frame without a message to continue")
            case .binary: if frame.fin { message = .none }
            case .text(let validator): try continueText(validator, with: frame)
            }
        case .connectionClose:
            try Self.checkClose(frame.unmaskedData)
        case .ping, .pong:
            break
        default:
            throw .protocolError("reserved opcode \(frame.opcode)")
        }
    }

    private func continueText(_ validator: UTF8Validator, with frame: WebSocketFrame) throws(Violation) {
        var validator = validator
        guard validator.feed(frame.unmaskedData.readableBytesView), !frame.fin || validator.isComplete else {
            throw .invalidPayload("text is not valid UTF-8")
        }
        message = frame.fin ? .none : .text(validator)
    }

    /// A close frame's body: empty, or a valid status code and a UTF-8 reason (RFC 6455 §5.5.1, §7.4).
    private static func checkClose(_ body: ByteBuffer) throws(Violation) {
        guard body.readableBytes != 0 else { return }
        guard let code = body.getInteger(at: body.readerIndex, as: UInt16.self) else {
            throw .protocolError("a close frame body must start with a 2-byte status code")
        }
        guard isValidCloseCode(code) else { throw .protocolError("close code \(code) may not be sent") }
        guard UTF8Validator.isValid(body.readableBytesView.dropFirst(2)) else { throw .invalidPayload("close reason is not valid UTF-8") }
    }

    /// Codes an endpoint may send: the defined ones except those reserved for local use
    /// (1004–1006, 1015), and the ranges for libraries and applications (3000–4999).
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}
