/// Which primary serves each of a Redis Cluster's 16,384 hash slots, and the replicas beside it.
///
/// A value read from `CLUSTER SHARDS` (Redis 7) or `CLUSTER SLOTS` (older servers), and adjusted by
/// `MOVED` redirections until the next refresh. Primaries that hold no slots (a new node before a
/// reshard) are listed too, so function libraries can be loaded on them before they get slots;
/// primaries the cluster marks as failed are left out.
public struct RedisClusterTopology: Sendable, Equatable {
    /// One primary with its replicas and the slots it serves.
    public struct Shard: Sendable, Equatable {
        public var primary: RedisClusterEndpoint
        /// Replicas the cluster does not report as failed: the ones `WAIT` counts on. (One that is
        /// still syncing counts too: a write then waits for it, up to the wait's timeout.)
        public var replicas: [RedisClusterEndpoint]
        /// Slot ranges, ascending; empty for a primary without slots.
        public var slots: [ClosedRange<Int>]

        public init(primary: RedisClusterEndpoint, replicas: [RedisClusterEndpoint] = [], slots: [ClosedRange<Int>]) {
            self.primary = primary
            self.replicas = replicas
            self.slots = slots
        }
    }

    /// Every shard, ordered by primary.
    public private(set) var shards: [Shard]
    /// Per slot, the index of its shard in ``shards``; -1 when no primary serves it.
    private var owners: [Int16]

    public init(shards: [Shard]) {
        var merged: [RedisClusterEndpoint: Shard] = [:]
        for shard in shards {
            if var existing = merged[shard.primary] {
                existing.slots += shard.slots
                existing.replicas += shard.replicas.filter { !existing.replicas.contains($0) }
                merged[shard.primary] = existing
            } else {
                merged[shard.primary] = shard
            }
        }
        self.shards = merged.values.map { shard in
            var shard = shard
            shard.slots = Self.normalized(shard.slots)
            return shard
        }.sorted { $0.primary < $1.primary }
        self.owners = Array(repeating: -1, count: RedisHashSlot.count)
        for (index, shard) in self.shards.enumerated() {
            for range in shard.slots {
                for slot in range { self.owners[slot] = Int16(index) }
            }
        }
    }

    /// The primaries, including those without slots.
    public var primaries: [RedisClusterEndpoint] {
        shards.map(\.primary)
    }

    /// Every node named: primaries, then replicas (places to ask for the topology).
    public var nodes: [RedisClusterEndpoint] {
        primaries + shards.flatMap(\.replicas)
    }

    /// The shard serving `slot`, if any.
    public func shard(forSlot slot: Int) -> Shard? {
        guard (0..<RedisHashSlot.count).contains(slot) else { return nil }
        let owner = owners[slot]
        return owner < 0 ? nil : shards[Int(owner)]
    }

    /// The primary serving `slot`, if any.
    public func primary(forSlot slot: Int) -> RedisClusterEndpoint? {
        shard(forSlot: slot)?.primary
    }

    /// How many slots no primary serves.
    public var unservedSlots: Int {
        owners.lazy.filter { $0 < 0 }.count
    }

    /// This topology after a `MOVED <slot> <endpoint>`: the slot belongs to that primary now.
    public func moving(slot: Int, to endpoint: RedisClusterEndpoint) -> RedisClusterTopology {
        guard (0..<RedisHashSlot.count).contains(slot), primary(forSlot: slot) != endpoint else { return self }
        var shards = self.shards.map { shard in
            var shard = shard
            shard.slots = Self.removing(slot, from: shard.slots)
            return shard
        }
        if let index = shards.firstIndex(where: { $0.primary == endpoint }) {
            shards[index].slots.append(slot...slot)
        } else {
            shards.append(Shard(primary: endpoint, slots: [slot...slot]))
        }
        return RedisClusterTopology(shards: shards)
    }

    // MARK: Parsing

    /// Reads a `CLUSTER SHARDS` reply. `connectedTo` stands in for nodes that report no usable address.
    public init(shardsReply reply: RESPValue, connectedTo: RedisClusterEndpoint) throws(RedisError) {
        guard let entries = reply.array else { throw .protocolError("CLUSTER SHARDS answered \(reply)") }
        var shards: [Shard] = []
        for entry in entries {
            let fields = try Self.fields(entry, what: "CLUSTER SHARDS entry")
            guard let slotValues = fields["slots"]?.array, slotValues.count % 2 == 0, let nodes = fields["nodes"]?.array else {
                throw .protocolError("CLUSTER SHARDS entry without slots or nodes: \(entry)")
            }
            var slots: [ClosedRange<Int>] = []
            for index in stride(from: 0, to: slotValues.count, by: 2) {
                guard let low = slotValues[index].int, let high = slotValues[index + 1].int, 0 <= low, low <= high,
                    high < RedisHashSlot.count
                else { throw .protocolError("CLUSTER SHARDS slot range \(slotValues[index]) \(slotValues[index + 1])") }
                slots.append(Int(low)...Int(high))
            }
            var primary: RedisClusterEndpoint?
            var replicas: [RedisClusterEndpoint] = []
            for node in nodes {
                let nodeFields = try Self.fields(node, what: "CLUSTER SHARDS node")
                guard let port = nodeFields["port"]?.int ?? nodeFields["tls-port"]?.int else { continue }
                let host = [nodeFields["endpoint"]?.string, nodeFields["ip"]?.string].compactMap { $0 }
                    .first { !$0.isEmpty && $0 != "?" } ?? connectedTo.host
                let endpoint = RedisClusterEndpoint(host: host, port: Int(port))
                let health = nodeFields["health"]?.string ?? "online"
                switch nodeFields["role"]?.string {
                case "master" where health != "fail":
                    primary = endpoint
                case "replica" where health != "fail":
                    replicas.append(endpoint)
                default:
                    continue
                }
            }
            if let primary {
                shards.append(Shard(primary: primary, replicas: replicas, slots: slots))
            }
        }
        self.init(shards: shards)
    }

    /// Reads a `CLUSTER SLOTS` reply (each entry: first slot, last slot, primary, replicas…, each node
    /// `[ip, port, id, …]`). Primaries without slots are not listed there.
    public init(slotsReply reply: RESPValue, connectedTo: RedisClusterEndpoint) throws(RedisError) {
        guard let entries = reply.array else { throw .protocolError("CLUSTER SLOTS answered \(reply)") }
        var shards: [Shard] = []
        for entry in entries {
            guard let items = entry.array, items.count >= 3, let low = items[0].int, let high = items[1].int,
                0 <= low, low <= high, high < RedisHashSlot.count
            else { throw .protocolError("CLUSTER SLOTS entry \(entry)") }
            let endpoints = try items.dropFirst(2).map { node throws(RedisError) -> RedisClusterEndpoint in
                guard let parts = node.array, parts.count >= 2, let port = parts[1].int else {
                    throw .protocolError("CLUSTER SLOTS node \(node)")
                }
                let host = parts[0].string.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? connectedTo.host
                return RedisClusterEndpoint(host: host, port: Int(port))
            }
            shards.append(Shard(primary: endpoints[0], replicas: Array(endpoints.dropFirst()), slots: [Int(low)...Int(high)]))
        }
        self.init(shards: shards)
    }

    /// A RESP2 map (flat array of name, value pairs) as a dictionary.
    private static func fields(_ value: RESPValue, what: String) throws(RedisError) -> [String: RESPValue] {
        guard let items = value.array, items.count % 2 == 0 else { throw .protocolError("\(what) is not a map: \(value)") }
        var fields: [String: RESPValue] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            if let name = items[index].string { fields[name] = items[index + 1] }
        }
        return fields
    }

    // MARK: Slot ranges

    private static func normalized(_ ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        var result: [ClosedRange<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    private static func removing(_ slot: Int, from ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        ranges.flatMap { range -> [ClosedRange<Int>] in
            guard range.contains(slot) else { return [range] }
            var parts: [ClosedRange<Int>] = []
            if range.lowerBound < slot { parts.append(range.lowerBound...(slot - 1)) }
            if slot < range.upperBound { parts.append((slot + 1)...range.upperBound) }
            return parts
        }
    }
}
