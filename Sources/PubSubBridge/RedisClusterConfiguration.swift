import NIOCore

/// Where and how to reach a Redis Cluster: seed nodes to learn the topology from, and the settings
/// every node connection uses (credentials, deadlines, keepalive, backoff) as for a single Redis.
public struct RedisClusterConfiguration: Sendable, Equatable {
    /// Nodes asked for the topology at start, and again when no known node answers.
    public var seeds: [RedisClusterEndpoint]
    /// Settings of every node connection; its host and port are replaced per node and its database is 0.
    public var node: RedisConfiguration
    /// How often the topology is read again while everything works (failovers and reshards also
    /// announce themselves through `MOVED`, lost connections and `sunsubscribe` pushes, which refresh at once).
    public var refreshInterval: TimeAmount
    /// How often the topology is read while a primary is unreachable or a slot has no primary, so a
    /// promoted replica is found soon after the cluster fails over.
    public var degradedRefreshInterval: TimeAmount
    /// The most redirections (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`) one command follows.
    public var maxRedirects: Int

    public init(seeds: [RedisClusterEndpoint], node: RedisConfiguration = RedisConfiguration()) {
        self.seeds = seeds
        self.node = node
        self.node.database = 0
        self.refreshInterval = .seconds(5)
        self.degradedRefreshInterval = .milliseconds(250)
        self.maxRedirects = 8
    }

    /// Parses `host:port,host:port,…`, optionally with credentials before the first node:
    /// `redis://user:password@host:port,host:port` (percent-encoded like a Redis URL).
    public init(nodes text: String) throws(RedisConfigurationError) {
        var list = Substring(text.trimmingWhitespace)
        var credentials = RedisConfiguration()
        if let scheme = list.firstRange(of: "://") {
            guard list[..<scheme.lowerBound].lowercased() == "redis" else {
                throw RedisConfigurationError(.invalidClusterNodes, "only redis:// may come before the nodes")
            }
            list = list[scheme.upperBound...]
            if let at = list.lastIndex(of: "@") {
                let userInfo = list[..<at]
                list = list[list.index(after: at)...]
                do {
                    credentials = try RedisConfiguration(url: "redis://\(userInfo)@127.0.0.1")
                } catch {
                    throw RedisConfigurationError(.invalidClusterNodes, "the user or password has a '%' that is not followed by two hex digits")
                }
            }
        }
        guard !list.isEmpty else { throw RedisConfigurationError(.invalidClusterNodes, "no node given") }
        var seeds: [RedisClusterEndpoint] = []
        for entry in list.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = Substring(String(entry).trimmingWhitespace)
            guard let endpoint = RedisClusterEndpoint(entry) else {
                throw RedisConfigurationError(.invalidClusterNodes, "'\(entry)' is not host:port with a port from 1 to 65535")
            }
            if !seeds.contains(endpoint) { seeds.append(endpoint) }
        }
        guard !seeds.isEmpty else { throw RedisConfigurationError(.invalidClusterNodes, "no node given") }
        var node = RedisConfiguration()
        node.username = credentials.username
        node.password = credentials.password
        self.init(seeds: seeds, node: node)
    }

    /// The connection settings for one node.
    func configuration(for endpoint: RedisClusterEndpoint) -> RedisConfiguration {
        var configuration = self.node
        configuration.host = endpoint.host
        configuration.port = endpoint.port
        configuration.database = 0
        return configuration
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
