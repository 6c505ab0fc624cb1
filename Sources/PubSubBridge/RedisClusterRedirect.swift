/// What a Redis Cluster node's error reply asks a client to do instead of running the command.
public enum RedisClusterRedirect: Sendable, Equatable {
    /// `MOVED <slot> <endpoint>`: the slot lives there now; send this and later commands there.
    case moved(slot: Int, to: RedisClusterEndpoint)
    /// `ASK <slot> <endpoint>`: the slot is being migrated; send this one command there, after `ASKING`.
    case ask(slot: Int, to: RedisClusterEndpoint)
    /// `TRYAGAIN …`: a multi-key command met a slot in migration; send it again a little later.
    case tryAgain
    /// `CLUSTERDOWN …`: the cluster cannot serve the slot now (a failover in progress); try again later.
    case clusterDown

    /// The redirect in an error reply's message, or nil for any other error.
    public init?(message: String) {
        let words = message.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
        switch words.first {
        case "MOVED", "ASK":
            guard words.count >= 3, let slot = Int(words[1]), (0..<RedisHashSlot.count).contains(slot),
                let endpoint = RedisClusterEndpoint(words[2])
            else { return nil }
            self = words[0] == "MOVED" ? .moved(slot: slot, to: endpoint) : .ask(slot: slot, to: endpoint)
        case "TRYAGAIN":
            self = .tryAgain
        case "CLUSTERDOWN":
            self = .clusterDown
        default:
            return nil
        }
    }

    /// The redirect in a Redis error, or nil when it is not one.
    public init?(_ error: any Error) {
        guard let message = (error as? RedisError)?.serverMessage else { return nil }
        self.init(message: message)
    }
}
