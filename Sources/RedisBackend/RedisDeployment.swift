/// What Herald's Redis schema runs on: one Redis server, or a Redis Cluster.
///
/// In a cluster, live events travel by sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7), which
/// only the primary of the channel's slot and its replicas carry, so the function libraries are
/// built to `SPUBLISH`; and every function call names all the keys it touches, so that a slot in
/// migration answers `TRYAGAIN` rather than letting a call run on a node that holds half of an
/// account's keys.
public struct RedisDeployment: Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case standalone
        case cluster
    }

    private let base: Base

    /// One Redis server (with or without replicas): classic pub/sub.
    public static let standalone = RedisDeployment(base: .standalone)
    /// A Redis Cluster: sharded pub/sub, full key lists.
    public static let cluster = RedisDeployment(base: .cluster)

    /// Whether this is a Redis Cluster.
    public var isCluster: Bool { base == .cluster }

    /// The command that publishes a live event on an account's channel.
    public var publishCommand: String { isCluster ? "SPUBLISH" : "PUBLISH" }

    /// What the function libraries' versions add, so nodes never replace one kind with the other.
    var versionSuffix: String { isCluster ? ";sharded" : "" }

    /// The key arguments of a function call on `channel` (`numkeys` first): the channel alone on a
    /// single Redis (the form backends use); on a cluster the channel and every key the function
    /// touches, derived from it with `suffixes`.
    func functionKeys(channel: String, suffixes: [String]) -> [String] {
        guard isCluster else { return ["1", channel] }
        return [String(suffixes.count + 1), channel] + suffixes.map { channel + $0 }
    }

    public var description: String { isCluster ? "cluster" : "standalone" }
}
