/// The result of one `swarm` run, written as JSON (`--json`, and the last line of stdout) and
/// rendered as a table and an HTML report.
public struct RunReport: Codable, Sendable {
    /// What was run.
    public struct Setup: Codable, Sendable {
        public var label: String
        public var dialect: String
        public var targets: [String]
        public var publish: String
        public var connections: Int
        public var accounts: Int
        public var usersPerAccount: Int
        public var eventBytes: Int
        public var spread: String
        public var stepSeconds: Double
        public var maxP99Milliseconds: Double
    }

    /// The connect phase.
    public struct Connect: Codable, Sendable {
        public var attempts: Int
        public var established: Int
        public var failures: Int
        /// Seconds from the first attempt until every connection was established (or the ramp gave up).
        public var rampSeconds: Double
        /// Established connections per second during the ramp.
        public var perSecond: Double
        public var time: LatencySummary
    }

    /// A time when connections were lost and how long until all were back.
    public struct Outage: Codable, Sendable {
        /// Seconds since the start of the run.
        public var startedAt: Double
        public var lowestConnected: Int
        /// Seconds until all were connected again (nil: not within the run).
        public var recoverySeconds: Double?
    }

    /// One load step.
    public struct Step: Codable, Sendable {
        public var index: Int
        public var targetDeliveriesPerSecond: Double?
        public var eventsPerSecond: Double
        public var seconds: Double
        public var published: Int
        public var publishFailures: Int
        public var publishSkipped: Int
        public var eligibleConnections: Int
        public var expected: Int
        public var delivered: Int
        public var deliveriesPerSecond: Double
        public var lost: Int
        public var duplicates: Int
        public var reordered: Int
        public var latency: LatencySummary
        /// Accounts with loss, duplicates or reordering (the rest were perfect).
        public var accountsWithIssues: [AccountIssue]
        public var servers: [ServerUse]
        /// Why the ladder stopped here, if it did.
        public var stopReason: String?
        public var passed: Bool
    }

    /// Loss, duplicates and reordering of one account in one step.
    public struct AccountIssue: Codable, Sendable, Equatable {
        public var account: String
        public var eligibleConnections: Int
        public var expected: Int
        public var lost: Int
        public var duplicates: Int
        public var reordered: Int
    }

    /// One server process's use over a step (or at the end).
    public struct ServerUse: Codable, Sendable {
        public var pid: Int32
        public var rssKiB: Int
        public var cpuPercent: Double
    }

    public var tool = "swarm"
    public var version = 1
    public var setup: Setup
    public var connect: Connect
    public var steps: [Step]
    public var reconnects: Int
    public var drops: Int
    public var connectedAtEnd: Int
    /// Connections per edge node id (Herald's `connected` frame), at the end of the ramp.
    public var connectionsPerNode: [String: Int]
    public var outages: [Outage]
    /// Server processes at the end of the ramp / hold, with RSS per connection when one node holds all.
    public var servers: [ServerUse]
    public var totalDelivered: Int
    public var unstampedFrames: Int
    public var seconds: Double
    /// The best passing step's deliveries per second (ladders).
    public var maxPassingDeliveriesPerSecond: Double?
    public var hitDurationCap: Bool
}
