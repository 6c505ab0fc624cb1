/// Why a polling request for an Engine.IO session is refused, with Engine.IO's own error code
/// (its clients read `{"code":n,"message":…}`).
struct SocketIOPollError: Error, Equatable, CustomStringConvertible {
    private enum Code: Equatable {
        case unknownSession, badRequest, overlappingPoll, afterUpgrade, notAPayload
    }

    private let code: Code

    /// The session is gone (closed, timed out) or never existed.
    static let unknownSession = Self(code: .unknownSession)
    /// A request the session cannot take.
    static let badRequest = Self(code: .badRequest)
    /// A second poll while one waits (the session is closed for it).
    static let overlappingPoll = Self(code: .overlappingPoll)
    /// A poll after the session moved to WebSocket.
    static let afterUpgrade = Self(code: .afterUpgrade)
    /// A posted body that is not Engine.IO text packets.
    static let notAPayload = Self(code: .notAPayload)

    /// Engine.IO's error code: 1 unknown session, 3 bad request.
    var engineIOCode: Int { code == .unknownSession ? 1 : 3 }

    var description: String {
        switch code {
        case .unknownSession: return "Session ID unknown"
        case .badRequest: return "Bad request"
        case .overlappingPoll: return "Bad request: a poll was already waiting (the session is closed)"
        case .afterUpgrade: return "Bad request: the session moved to WebSocket"
        case .notAPayload: return "Bad request: not an Engine.IO text payload"
        }
    }
}
