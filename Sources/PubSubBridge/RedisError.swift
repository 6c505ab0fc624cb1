/// An error from talking to Redis.
///
/// Compare with the static members (`error as? RedisError == .notConnected`) to react to a specific failure.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case notConnected
        case connectionClosed
        case connectionFailed(String)
        case authenticationFailed(String)
        case serverError(String)
        case protocolError(String)
        case timeout(String)
        case tooManyPendingCommands(Int)
        case unsupportedInSubscriptionMode
        case invalidCommand(String)
        case shutDown
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// No connection to Redis right now; the client is reconnecting in the background. Worth retrying later.
    public static let notConnected = RedisError(.notConnected)

    /// The connection closed before Redis answered; the command may or may not have run.
    public static let connectionClosed = RedisError(.connectionClosed)

    /// The client was shut down.
    public static let shutDown = RedisError(.shutDown)

    /// A regular command was sent on a connection that is in pub/sub mode.
    public static let unsupportedInSubscriptionMode = RedisError(.unsupportedInSubscriptionMode)

    /// The command cannot be sent as given.
    public static func invalidCommand(_ reason: String) -> RedisError {
        RedisError(.invalidCommand(reason))
    }

    /// The TCP connection to Redis could not be established.
    public static func connectionFailed(_ reason: String) -> RedisError {
        RedisError(.connectionFailed(reason))
    }

    /// Redis refused the credentials given in the configuration.
    public static func authenticationFailed(_ message: String) -> RedisError {
        RedisError(.authenticationFailed(message))
    }

    /// Redis answered the command with an error reply, e.g. `WRONGTYPE ...`.
    public static func serverError(_ message: String) -> RedisError {
        RedisError(.serverError(message))
    }

    /// Redis sent bytes that are not valid RESP, a reply nobody asked for, or a reply of an unexpected shape.
    public static func protocolError(_ reason: String) -> RedisError {
        RedisError(.protocolError(reason))
    }

    /// An operation did not finish in time. A command past its deadline closes its connection (replies are matched
    /// in order, so a late one cannot be told apart), so the command may or may not have run.
    public static func timeout(_ operation: String) -> RedisError {
        RedisError(.timeout(operation))
    }

    /// The connection already had `limit` commands waiting for replies; this one was not sent.
    public static func tooManyPendingCommands(limit: Int) -> RedisError {
        RedisError(.tooManyPendingCommands(limit))
    }

    /// Whether this error says Redis did not answer in time (a command deadline, a keepalive, or connecting).
    public var isTimeout: Bool {
        if case .timeout = self.code { return true }
        return false
    }

    /// The message of a Redis error reply, e.g. `WRONGTYPE Operation against a key ...`; `nil` for other errors.
    public var serverMessage: String? {
        switch self.code {
        case .serverError(let message), .authenticationFailed(let message):
            return message
        default:
            return nil
        }
    }

    public var description: String {
        switch self.code {
        case .notConnected:
            return "Not connected to Redis: the connection is down and being re-established in the background; retry later"
        case .connectionClosed:
            return "The Redis connection closed before a reply arrived; the command may or may not have been executed"
        case .connectionFailed(let reason):
            return "Could not connect to Redis: \(reason); check that redis-server is running and the Redis URL is right"
        case .authenticationFailed(let message):
            return "Redis rejected the credentials (\(message)); check the user and password in the Redis URL"
        case .serverError(let message):
            return "Redis replied with an error: \(message)"
        case .protocolError(let reason):
            return "Redis protocol error: \(reason)"
        case .timeout(let operation):
            return "Timed out: \(operation)"
        case .tooManyPendingCommands(let limit):
            return "Not sent: \(limit) Redis commands are already waiting for replies on this connection; "
                + "Redis is slow or stalled, retry later (the limit is RedisConfiguration.maxPendingCommands)"
        case .unsupportedInSubscriptionMode:
            return "This connection is in pub/sub mode and only accepts SUBSCRIBE/UNSUBSCRIBE; use a command connection"
        case .invalidCommand(let reason):
            return "Invalid Redis command: \(reason)"
        case .shutDown:
            return "The Redis client has been shut down"
        }
    }
}
