/// Failures of ``TestWebSocketClient`` other than an HTTP refusal (see ``HTTPRefusal``).
///
/// Compare ``code`` to tell cases apart: `catch let error as TestWebSocketClientError where error.code == .timedOut`.
public struct TestWebSocketClientError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case timedOut
            case connectionClosed
            case handshakeFailed
            case protocolViolation
            case unexpectedMessage
        }

        private let base: Base

        /// Nothing arrived within the allowed time.
        public static let timedOut = Code(base: .timedOut)
        /// The connection is closed and no further messages are buffered.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The `101` response was not a valid WebSocket handshake, or the connection ended during the handshake.
        public static let handshakeFailed = Code(base: .handshakeFailed)
        /// The server sent something that is not valid WebSocket (the connection has been closed).
        public static let protocolViolation = Code(base: .protocolViolation)
        /// A convenience receive got a message of a different kind than it expected.
        public static let unexpectedMessage = Code(base: .unexpectedMessage)

        public var description: String { "\(self.base)" }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence that says what happened.
    public var detail: String

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "TestWebSocketClientError.\(self.code): \(self.detail)" }
}
