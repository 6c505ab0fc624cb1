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
        /// Connections left out of the expectation (connected late, dropped without resuming,
        /// a reported gap, or reconnecting or replaying when the step was judged).
        public var ineligibleConnections: Int?
        /// `recovered:false` frames during the step (gaps the server reported; not counted as lost).
        public var gaps: Int?
        public var latency: LatencySummary
        /// Accounts with loss, duplicates or reordering (the rest were perfect).
        public var accountsWithIssues: [AccountIssue]
        public var servers: [ServerUse]
        /// swarm's own CPU over the step, so a reader can tell when the load tool, not the
        /// server, is what saturates (nil in reports from older versions).
        public var swarm: SwarmUse?
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
        public var gaps: Int?
    }

    /// One server process's use over a step (or at the end).
    public struct ServerUse: Codable, Sendable {
        public var pid: Int32
        public var rssKiB: Int
        public var cpuPercent: Double
        /// Open descriptors (`/proc/<pid>/fd`).
        public var openDescriptors: Int?
        /// This process's CPU time over the step per delivered event and per publish, µs.
        public var microsecondsPerDelivery: Double?
        public var microsecondsPerPublish: Double?
    }

    /// swarm's own use over a step.
    public struct SwarmUse: Codable, Sendable {
        public var cpuPercent: Double
        /// swarm's CPU time over the step per event frame it received (publishing included), µs.
        public var microsecondsPerReceivedEvent: Double?
    }

    /// The `--pid` processes and the fleet at one moment (`--sample-seconds`): counters are
    /// totals since the run started.
    public struct Sample: Codable, Sendable, Equatable {
        /// `start` (before the ramp), `load` (ramp and settle done: the load starts), `+60s`,
        /// `+120s`, … (since the load started), `end` (the last step judged, connections still open).
        public var label: String
        /// Seconds since the run started, and since the load started (negative before).
        public var seconds: Double
        public var loadSeconds: Double
        public var servers: [ServerSample]
        public var connected: Int
        public var churned: Int
        public var reconnects: Int
        public var drops: Int
        public var failures: Int
        public var resumes: Int
        public var recovered: Int
        public var replayed: Int
        public var gaps: Int
        public var published: Int
        public var publishFailures: Int
        public var delivered: Int
        public var duplicates: Int
        public var typingSent: Int
        public var presenceSent: Int
        public var presenceStates: Int
        public var typingEvents: Int
        public var errors: Int
    }

    /// One process in a ``Sample``.
    public struct ServerSample: Codable, Sendable, Equatable {
        public var pid: Int32
        public var rssKiB: Int
        public var openDescriptors: Int?
        /// CPU since the previous sample, percent of one core.
        public var cpuPercent: Double
    }

    /// Client-message and frame totals of the whole run (Herald).
    public struct Activity: Codable, Sendable, Equatable {
        public var churned: Int
        public var resumes: Int
        public var typingSent: Int
        public var presenceSent: Int
        public var messagesSkipped: Int
        public var frames: FrameCounts
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
    /// Periodic samples (`--sample-seconds`), oldest first.
    public var samples: [Sample]?
    public var activity: Activity?
}
