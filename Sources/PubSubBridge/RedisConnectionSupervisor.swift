import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Keeps one ``RedisConnection`` open: connects, notices when it closes, and reconnects with
/// ``ReconnectBackoff`` until shut down. Shared by the command client and the subscriber.
///
/// The callbacks run on `eventLoop`. The current connection is readable from any thread.
final class RedisConnectionSupervisor: Sendable {
    /// What callers on any thread can see.
    enum Availability: Sendable {
        case disconnected
        case connected(RedisConnection)
        case shutDown
    }

    private struct Callbacks {
        var onConnected: @Sendable (RedisConnection) -> Void
        var onDisconnected: @Sendable () -> Void
    }

    private enum State {
        case idle
        case connecting(attempt: Int)
        case connected(RedisConnection)
        case waitingToReconnect(attempt: Int, Scheduled<Void>)
        case shutDown
    }

    private struct LoopState {
        var state: State = .idle
        var callbacks: Callbacks?
        var random = SystemRandomNumberGenerator()
        /// Completes when the connect attempt in flight has finished (and, after a shutdown, its
        /// connection is closed), so a shutdown can wait for it and leave no promise behind.
        var connectAttempt: EventLoopFuture<Void>?
    }

    let eventLoop: EventLoop
    private let configuration: RedisConfiguration
    private let logger: Logger
    private let loopState: NIOLoopBoundBox<LoopState>
    private let availabilityBox = NIOLockedValueBox(Availability.disconnected)
    private let problemBox = NIOLockedValueBox<String?>("not connected yet")

    init(configuration: RedisConfiguration, eventLoop: EventLoop, logger: Logger, role: String) {
        var logger = logger
        logger[metadataKey: "redis.host"] = "\(configuration.host)"
        logger[metadataKey: "redis.port"] = "\(configuration.port)"
        logger[metadataKey: "redis.role"] = "\(role)"
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.loopState = .makeBoxSendingValue(LoopState(), eventLoop: eventLoop)
    }

    /// The open connection, if any.
    var availability: Availability {
        self.availabilityBox.withLockedValue { $0 }
    }

    /// Why there is no connection right now (the last connect failure or why the last connection closed);
    /// `nil` while connected.
    var problem: String? {
        self.problemBox.withLockedValue { $0 }
    }

    /// The open connection, or `nil` while disconnected or after shutdown.
    var connection: RedisConnection? {
        if case .connected(let connection) = self.availability { return connection }
        return nil
    }

    /// Starts connecting in the background; does nothing if already started.
    func start(
        onConnected: @escaping @Sendable (RedisConnection) -> Void,
        onDisconnected: @escaping @Sendable () -> Void
    ) {
        self.eventLoop.execute {
            guard case .idle = self.loopState.value.state else { return }
            self.loopState.value.callbacks = Callbacks(onConnected: onConnected, onDisconnected: onDisconnected)
            self.connect(attempt: 0)
        }
    }

    /// Stops reconnecting and closes the connection. The callbacks are not called again.
    func shutdown() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit {
            let previous = self.loopState.value.state
            self.loopState.value.state = .shutDown
            self.loopState.value.callbacks = nil
            self.availabilityBox.withLockedValue { $0 = .shutDown }
            self.problemBox.withLockedValue { $0 = "shut down" }
            switch previous {
            case .connected(let connection):
                self.logger.debug("Closing Redis connection for shutdown")
                return connection.close()
            case .waitingToReconnect(_, let timer):
                timer.cancel()
                return self.eventLoop.makeSucceededVoidFuture()
            case .connecting:
                // The attempt in flight ends within the connect timeout and is closed then.
                return self.loopState.value.connectAttempt ?? self.eventLoop.makeSucceededVoidFuture()
            case .idle, .shutDown:
                return self.eventLoop.makeSucceededVoidFuture()
            }
        }
    }

    private func connect(attempt: Int) {
        self.eventLoop.preconditionInEventLoop()
        self.loopState.value.state = .connecting(attempt: attempt)
        self.logger.debug("Connecting to Redis", metadata: ["redis.attempt": "\(attempt)"])
        let attemptDone = self.eventLoop.makePromise(of: Void.self)
        self.loopState.value.connectAttempt = attemptDone.futureResult
        RedisConnection.connect(configuration: self.configuration, eventLoop: self.eventLoop, logger: self.logger)
            .hop(to: self.eventLoop)
            .whenComplete { result in
                self.connectCompleted(result, attempt: attempt).cascade(to: attemptDone)
            }
    }

    /// Takes the connect attempt's outcome; the future completes once it is fully handled.
    private func connectCompleted(_ result: Result<RedisConnection, Error>, attempt: Int) -> EventLoopFuture<Void> {
        self.loopState.value.connectAttempt = nil
        guard case .connecting = self.loopState.value.state else {
            if case .success(let connection) = result {
                return connection.close()
            }
            return self.eventLoop.makeSucceededVoidFuture()
        }
        switch result {
        case .success(let connection):
            self.loopState.value.state = .connected(connection)
            self.availabilityBox.withLockedValue { $0 = .connected(connection) }
            self.problemBox.withLockedValue { $0 = nil }
            self.logger.info("Connected to Redis", metadata: ["redis.attempt": "\(attempt)"])
            connection.closeFuture.whenComplete { _ in
                self.connectionClosed(connection)
            }
            self.loopState.value.callbacks?.onConnected(connection)
        case .failure(let error):
            self.logger.warning(
                "Could not connect to Redis",
                metadata: ["redis.attempt": "\(attempt)", "error": "\(error)"]
            )
            self.problemBox.withLockedValue { $0 = "\(error)" }
            self.scheduleReconnect(attempt: attempt + 1)
        }
        return self.eventLoop.makeSucceededVoidFuture()
    }

    private func connectionClosed(_ connection: RedisConnection) {
        guard case .connected(let current) = self.loopState.value.state, current === connection else { return }
        self.availabilityBox.withLockedValue { $0 = .disconnected }
        let reason = connection.closeReason.map { "\($0)" } ?? "the connection was closed"
        self.problemBox.withLockedValue { $0 = "lost the connection (\(reason)); reconnecting" }
        self.logger.warning("Lost connection to Redis; reconnecting", metadata: ["error": "\(reason)"])
        self.scheduleReconnect(attempt: 0)
        self.loopState.value.callbacks?.onDisconnected()
    }

    private func scheduleReconnect(attempt: Int) {
        let delay = self.configuration.reconnectBackoff.delay(attempt: attempt, using: &self.loopState.value.random)
        self.logger.debug(
            "Scheduling Redis reconnect",
            metadata: ["redis.attempt": "\(attempt)", "redis.delay_ms": "\(delay.nanoseconds / 1_000_000)"]
        )
        let timer = self.eventLoop.scheduleTask(in: delay) {
            guard case .waitingToReconnect = self.loopState.value.state else { return }
            self.connect(attempt: attempt)
        }
        self.loopState.value.state = .waitingToReconnect(attempt: attempt, timer)
    }
}
