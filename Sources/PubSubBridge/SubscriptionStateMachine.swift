/// The subscriber's bookkeeping, without I/O: reference-counted interest per channel, what has been
/// requested from Redis on the current connection, and what Redis has confirmed.
///
/// Each event returns the action the caller must carry out. Releasing the last reference does not
/// unsubscribe at once: the caller schedules ``lingerExpired(channel:token:)``, and a retain in the
/// meantime invalidates the token, so a channel that flaps between 0 and 1 users costs no commands.
struct SubscriptionStateMachine {
    private struct Interest {
        var references: Int
        /// Set while the channel has no references and waits for its linger to expire.
        var lingerToken: UInt64?
    }

    private enum ConnectionState: Equatable {
        case disconnected
        /// Connected; waiting for Redis to confirm the channels of the resubscribe batch.
        case resubscribing(awaiting: Set<String>)
        case ready
        case shutDown
    }

    enum Action: Equatable {
        case none
        /// Send one SUBSCRIBE with these channels.
        case subscribe([String])
        /// Send one UNSUBSCRIBE with these channels.
        case unsubscribe([String])
        /// Call ``lingerExpired(channel:token:)`` with this token after the linger time.
        case scheduleUnsubscribe(channel: String, token: UInt64)
        /// Send one SUBSCRIBE per batch, after (re)connecting.
        case resubscribe([[String]])
        /// Every needed channel is subscribed: report the subscriber as connected.
        case reportConnected
        /// The retained channel was already confirmed on this connection: report it as
        /// subscribed now, since no new confirmation will come.
        case reportSubscribed(String)
        /// Redis refused a needed channel: report the subscriber as not connected (it stays up and retries).
        case reportUnavailable
    }

    /// The most channels put into one SUBSCRIBE command.
    let batchSize: Int
    private var interest: [String: Interest] = [:]
    /// Channels with a SUBSCRIBE and no later UNSUBSCRIBE sent on the current connection.
    private var requested: Set<String> = []
    /// Channels Redis confirmed with a `subscribe` push and has not since reported unsubscribed.
    private(set) var confirmed: Set<String> = []
    /// Needed channels whose SUBSCRIBE Redis refused on this connection (e.g. ACL `NOPERM`), with its message.
    private(set) var refused: [String: String] = [:]
    private var connection: ConnectionState = .disconnected
    private var lastToken: UInt64 = 0

    init(batchSize: Int = 1000) {
        precondition(batchSize > 0, "batchSize must be positive")
        self.batchSize = batchSize
    }

    /// Channels with at least one reference, or lingering before their UNSUBSCRIBE.
    var interestedChannels: Set<String> {
        Set(self.interest.keys)
    }

    /// The number of references to `channel`.
    func references(to channel: String) -> Int {
        self.interest[channel]?.references ?? 0
    }

    /// Connected, every needed channel confirmed once, and none refused.
    var isReady: Bool {
        self.connection == .ready && self.refused.isEmpty
    }

    mutating func retain(channel: String) -> Action {
        guard self.connection != .shutDown else { return .none }
        var entry = self.interest[channel] ?? Interest(references: 0)
        entry.references += 1
        entry.lingerToken = nil
        self.interest[channel] = entry
        switch self.connection {
        case .resubscribing, .ready:
            if self.requested.insert(channel).inserted { return .subscribe([channel]) }
            return self.confirmed.contains(channel) ? .reportSubscribed(channel) : .none
        case .disconnected, .shutDown:
            return .none
        }
    }

    /// Drops one reference; an unbalanced release (no references) is ignored.
    mutating func release(channel: String) -> Action {
        guard self.connection != .shutDown, var entry = self.interest[channel], entry.references > 0 else {
            return .none
        }
        entry.references -= 1
        if entry.references == 0 {
            self.lastToken += 1
            entry.lingerToken = self.lastToken
        }
        self.interest[channel] = entry
        if let token = entry.lingerToken {
            return .scheduleUnsubscribe(channel: channel, token: token)
        }
        return .none
    }

    mutating func lingerExpired(channel: String, token: UInt64) -> Action {
        guard let entry = self.interest[channel], entry.references == 0, entry.lingerToken == token else {
            return .none
        }
        self.interest[channel] = nil
        if self.refused.removeValue(forKey: channel) != nil {
            return self.isReady ? .reportConnected : .none
        }
        return self.requested.remove(channel) != nil ? .unsubscribe([channel]) : .none
    }

    /// A new connection is up: subscribe to everything still needed.
    mutating func connected() -> Action {
        guard self.connection == .disconnected else { return .none }
        self.requested = Set(self.interest.keys)
        self.confirmed = []
        if self.requested.isEmpty {
            self.connection = .ready
            return .reportConnected
        }
        self.connection = .resubscribing(awaiting: self.requested)
        let channels = self.requested.sorted()
        let batches = stride(from: 0, to: channels.count, by: self.batchSize).map {
            Array(channels[$0..<min($0 + self.batchSize, channels.count)])
        }
        return .resubscribe(batches)
    }

    /// The connection dropped. Returns whether the subscriber had been reported connected.
    mutating func disconnected() -> Bool {
        let wasReady = self.isReady
        if self.connection != .shutDown {
            self.connection = .disconnected
        }
        self.requested = []
        self.confirmed = []
        self.refused = [:]
        return wasReady
    }

    mutating func subscribeConfirmed(channel: String) -> Action {
        self.confirmed.insert(channel)
        let wasRefused = self.refused.removeValue(forKey: channel) != nil
        guard case .resubscribing(var awaiting) = self.connection else {
            return wasRefused && self.isReady ? .reportConnected : .none
        }
        awaiting.remove(channel)
        if awaiting.isEmpty {
            self.connection = .ready
            return self.isReady ? .reportConnected : .none
        }
        self.connection = .resubscribing(awaiting: awaiting)
        return .none
    }

    /// Redis reports `channel` unsubscribed. Returns whether Redis dropped it on its own: it is still
    /// requested (no UNSUBSCRIBE was sent), as when a sharded channel's slot moved to another node.
    @discardableResult
    mutating func unsubscribeConfirmed(channel: String) -> Bool {
        self.confirmed.remove(channel)
        return self.requested.contains(channel) && self.interest[channel] != nil
    }

    /// Drops every trace of `channel` at once, sending nothing: it is served elsewhere now (its slot
    /// moved), and this connection's server has dropped it or will.
    mutating func forget(channel: String) -> Action {
        guard self.connection != .shutDown else { return .none }
        let wasReady = self.isReady
        self.interest[channel] = nil
        self.requested.remove(channel)
        self.confirmed.remove(channel)
        self.refused[channel] = nil
        if case .resubscribing(var awaiting) = self.connection, awaiting.remove(channel) != nil {
            self.connection = awaiting.isEmpty ? .ready : .resubscribing(awaiting: awaiting)
        }
        return !wasReady && self.isReady ? .reportConnected : .none
    }

    /// Redis answered a SUBSCRIBE of `channels` with an error (`message`). The ones still needed count as
    /// refused until ``retryRefused()`` gets them confirmed or their interest ends.
    mutating func subscribeRefused(channels: [String], message: String) -> Action {
        let wasReady = self.isReady
        for channel in channels where self.interest[channel] != nil && self.requested.remove(channel) != nil {
            self.refused[channel] = message
        }
        if case .resubscribing(var awaiting) = self.connection {
            awaiting.subtract(channels)
            self.connection = awaiting.isEmpty ? .ready : .resubscribing(awaiting: awaiting)
            if awaiting.isEmpty && self.isReady { return .reportConnected }
        }
        return wasReady && !self.isReady ? .reportUnavailable : .none
    }

    /// Asks again for every refused channel, one SUBSCRIBE each, so one forbidden channel cannot hold up others.
    mutating func retryRefused() -> Action {
        switch self.connection {
        case .resubscribing, .ready:
            var channels: [String] = []
            for channel in self.refused.keys.sorted() where self.requested.insert(channel).inserted {
                channels.append(channel)
            }
            return channels.isEmpty ? .none : .resubscribe(channels.map { [$0] })
        case .disconnected, .shutDown:
            return .none
        }
    }

    /// Stops all activity. Returns whether the subscriber had been reported connected.
    mutating func shutdown() -> Bool {
        let wasReady = self.isReady
        self.connection = .shutDown
        self.interest = [:]
        self.requested = []
        self.confirmed = []
        self.refused = [:]
        return wasReady
    }
}
