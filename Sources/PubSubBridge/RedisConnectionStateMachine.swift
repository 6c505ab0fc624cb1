import NIOCore

/// Matches replies to requests on one Redis connection, in FIFO order.
///
/// A connection starts in command mode, where every reply answers the oldest pending request.
/// After the first SUBSCRIBE it is in subscription mode: once the replies to earlier requests
/// have arrived, every further reply is a pub/sub push. Generic over the pending request so it
/// can be tested without promises.
struct RedisConnectionStateMachine<Pending> {
    private enum State {
        case commands
        case subscriptions
        case closed(RedisError)
    }

    enum SendAction {
        /// Write the command to the socket.
        case write
        /// Do not write; fail the request.
        case fail(RedisError)
    }

    enum ReplyAction {
        case succeed(Pending, RESPValue)
        /// An error reply to a request.
        case fail(Pending, RedisError)
        /// A pub/sub push (subscribe confirmation, message, pong) for the subscription handler.
        case push(RESPValue)
        /// A reply nobody asked for: close the connection with this error.
        case closeConnection(RedisError)
        /// The connection is closed; drop the reply.
        case ignore
    }

    private var state: State = .commands
    private var pending: CircularBuffer<Pending> = CircularBuffer(initialCapacity: 16)

    /// The number of requests waiting for a reply.
    var pendingCount: Int {
        self.pending.count
    }

    var isInSubscriptionMode: Bool {
        if case .subscriptions = self.state { return true }
        return false
    }

    /// A command that expects exactly one reply.
    mutating func sendCommand(_ request: Pending) -> SendAction {
        switch self.state {
        case .commands:
            self.pending.append(request)
            return .write
        case .subscriptions:
            return .fail(.unsupportedInSubscriptionMode)
        case .closed(let error):
            return .fail(error)
        }
    }

    /// SUBSCRIBE or UNSUBSCRIBE, whose replies arrive as pushes; switches the connection to subscription mode.
    mutating func sendSubscriptionCommand() -> SendAction {
        switch self.state {
        case .commands:
            self.state = .subscriptions
            return .write
        case .subscriptions:
            return .write
        case .closed(let error):
            return .fail(error)
        }
    }

    mutating func receive(_ reply: RESPValue) -> ReplyAction {
        switch self.state {
        case .closed:
            return .ignore
        case .commands, .subscriptions:
            if let request = self.pending.popFirst() {
                if case .error(let message) = reply {
                    return .fail(request, .serverError(message))
                }
                return .succeed(request, reply)
            }
            if case .subscriptions = self.state {
                return .push(reply)
            }
            return .closeConnection(.protocolError("received a reply with no command waiting for it: \(reply)"))
        }
    }

    /// Marks the connection closed and returns the requests that will never get a reply.
    mutating func close(error: RedisError) -> CircularBuffer<Pending> {
        if case .closed = self.state {
            return CircularBuffer()
        }
        self.state = .closed(error)
        defer { self.pending.removeAll() }
        return self.pending
    }
}
