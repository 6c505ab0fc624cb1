import NIOCore

/// Everything one `swarm` run does, as given on the command line. Every run is bounded: by
/// `durationSeconds` overall and by the counts given here.
public struct SwarmConfiguration: Sendable {
    /// How to talk to the server under test.
    public enum Dialect: String, Sendable, Codable {
        /// Herald: a token per virtual user (`?token=` unless the URL has `{token}`), the
        /// `connected` first frame marks a connection established, JSON pings.
        case herald
        /// Any WebSocket broadcast server: the URL template as given, established at the upgrade
        /// (or at the answer to ``SwarmConfiguration/hello``), WebSocket ping frames; only
        /// messages carrying a stamp are counted.
        case generic
    }

    /// Where events are published.
    public enum PublishRoute: Sendable, Equatable {
        /// Nothing is published (idle and storm runs).
        case none
        /// Redis `PUBLISH <channel> <event>`; the channel template's `{account}` is replaced
        /// (Herald: `herald:{{account}}`).
        case redisPublish(Endpoint, channelTemplate: String)
        /// Herald's history function: `FCALL herald_publish 1 herald:{A} <event>`.
        case redisFunction(Endpoint)
        /// Herald's HTTP API, `POST /api/v1/publish` with `Authorization: Bearer <key>`, spread
        /// over the endpoints by account.
        case heraldHTTP([Endpoint], apiKey: String)
        /// A generic HTTP publish URL template (`http://…/pub/{account}`), body = the event.
        case genericHTTP([Endpoint])
    }

    /// One load step: events per second across all accounts, and the deliveries/s it aims at.
    public struct LoadStep: Sendable, Codable, Equatable {
        public var eventsPerSecond: Double
        public var targetDeliveriesPerSecond: Double?
        public init(eventsPerSecond: Double, targetDeliveriesPerSecond: Double? = nil) {
            self.eventsPerSecond = eventsPerSecond
            self.targetDeliveriesPerSecond = targetDeliveriesPerSecond
        }
    }

    /// A name for this run in reports ("herald", "nchan", "floor").
    public var label: String = "swarm"
    /// WebSocket URL templates; connections are spread over them in turn.
    public var targets: [Endpoint]
    public var dialect: Dialect = .herald
    /// Connections to hold (at most ~19,000 per process with a 20,000 file limit).
    public var connections: Int = 100
    public var accounts: Int = 10
    /// Users per account; connections of an account are spread over them (several tabs per user).
    public var usersPerAccount: Int = 1
    /// Accounts are named `<prefix><index>`.
    public var accountPrefix: String = "swarm"
    /// Sub-channels put in every token's `channels` claim and subscribed after connecting.
    public var channels: [String] = []
    /// Generic dialect: a text frame sent right after the upgrade, for servers that want a
    /// command first (Centrifuge's connect, `{"id":1}`); the connection is then established at
    /// the server's first frame, its answer.
    public var hello: String?
    /// HS256 secret for tokens (Herald dialect).
    public var secret: String?
    public var accountClaim: String = "account"
    /// New connections per second during the ramp; 0 = as fast as `maxPendingConnects` allows.
    public var rampPerSecond: Double = 1000
    /// Handshakes in flight at once.
    public var maxPendingConnects: Int = 1000
    /// Connections closed (and reopened) per second by `swarm` itself, after the ramp.
    public var churnPerSecond: Double = 0
    /// A churned connection reconnects after a uniform random wait in `0…churnDowntime` (zero:
    /// at once); with `resume` the events published meanwhile come from the replay.
    public var churnDowntime: TimeAmount = .zero
    /// Herald: every reconnect (after churn or a drop) asks for `since=<the last offset the slot
    /// received>`, and a slot stays owed every event across its resumes (see ``StepWindow``).
    /// Churn pauses during each step's grace period so churned slots finish their replay before
    /// the step is judged. Needs events published with history (`--publish function` or `http`).
    public var resume = false
    /// Herald: `typing.start` messages per second across the fleet (slots in turn), in
    /// `typingConversations` conversations (`c0`, `c1`, …).
    public var typingPerSecond: Double = 0
    public var typingConversations = 3
    /// Herald: `presence.get` messages per second across the fleet (slots in turn).
    public var presencePerSecond: Double = 0
    /// The server's per-connection flood limit (Herald: `HERALD_CLIENT_RATE`, 20/s): client
    /// messages are refused when they would send more than this per connection.
    public var clientRateLimit: Double = 20
    /// Seconds between samples of the `--pid` processes (RSS, open descriptors) and the fleet's
    /// counters, from the start of the load (after the ramp and settle); 0: none.
    public var sampleSeconds: Double = 60
    /// Whether dropped connections reconnect (backoff: full jitter below `reconnectMinimum`,
    /// doubling per failure up to `reconnectMaximum`, like the browser clients).
    public var reconnect: Bool = true
    public var reconnectMinimum: TimeAmount = .seconds(1)
    public var reconnectMaximum: TimeAmount = .seconds(30)
    /// Seconds a TCP connect plus upgrade (plus the `connected` frame) may take.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Source addresses to bind before connecting.
    public var sourceAddresses = SourceAddressPool(addresses: [])
    public var publish: PublishRoute = .none
    /// HTTP publishing: keep-alive connections per endpoint, one request in flight on each (an
    /// account always uses the same one, so its events stay in order).
    public var publishConnections = 8
    public var spread: AccountPicker.Spread = .roundRobin
    /// Approximate size of one event in bytes.
    public var eventBytes: Int = 200
    /// Load steps; empty = no publishing.
    public var steps: [LoadStep] = []
    /// Whether this is a ladder: stop at the first failing step.
    public var isLadder = false
    public var stepSeconds: Double = 10
    /// Seconds after a step's last publish before it is evaluated (late deliveries still count).
    public var graceSeconds: Double = 2
    /// Seconds between the end of the ramp and the first step (subscriptions settle).
    public var settleSeconds: Double = 1
    /// Seconds to hold the connections open after the ramp when nothing is published (idle runs).
    public var holdSeconds: Double = 0
    /// A ladder stops at the first step whose p99 exceeds this.
    public var maxP99Milliseconds: Double = 100
    /// Hard cap on the whole run.
    public var durationSeconds: Double = 120
    /// Seconds between client pings (Herald closes after two silent heartbeats of 30 s).
    public var pingSeconds: Double = 25
    /// Server processes to sample (`/proc/<pid>`).
    public var serverPIDs: [Int32] = []
    /// Client event loop threads.
    public var eventLoops: Int = System.coreCount
    /// A file written once the ramp is done (for scripts that act on a connected swarm).
    public var readyFile: String?
    /// Print the progress line to stderr every second.
    public var progress = true

    public init(targets: [Endpoint]) {
        self.targets = targets
    }

    /// The name of account `index`.
    public func accountName(_ index: Int) -> String { "\(accountPrefix)\(index)" }

    /// The account of connection `slot` (connections go round the accounts).
    public func account(ofSlot slot: Int) -> Int { slot % accounts }

    /// The user of connection `slot` within its account.
    public func user(ofSlot slot: Int) -> Int { (slot / accounts) % usersPerAccount }

    /// Average connections per account (ladder rates divide targets by it).
    public var connectionsPerAccount: Double { Double(connections) / Double(max(1, accounts)) }

    /// Client messages per second each connection sends (typing, presence and pings).
    public var clientMessagesPerConnection: Double {
        (typingPerSecond + presencePerSecond) / Double(max(1, connections)) + (pingSeconds > 0 ? 1 / pingSeconds : 0)
    }

    /// Every address the run talks to.
    public var allEndpoints: [Endpoint] {
        var result = targets
        switch publish {
        case .none: break
        case .redisPublish(let endpoint, _), .redisFunction(let endpoint): result.append(endpoint)
        case .heraldHTTP(let endpoints, _), .genericHTTP(let endpoints): result += endpoints
        }
        return result
    }

    /// Problems that make the run pointless or unsafe, as sentences.
    public func problems(allowRemote: Bool) -> [String] {
        var problems: [String] = []
        if targets.isEmpty { problems.append("give at least one --url") }
        if targets.contains(where: { $0.scheme != .ws }) { problems.append("--url must be ws://") }
        if connections < 1 || accounts < 1 || usersPerAccount < 1 { problems.append("connections, accounts and users must be positive") }
        if dialect == .herald && (secret ?? "").utf8.count < 32 {
            problems.append("the Herald dialect needs --secret (or HERALD_JWT_SECRET) of at least 32 bytes")
        }
        if !allowRemote {
            for endpoint in allEndpoints where !endpoint.isLoopback {
                problems.append("\(endpoint.host) is not a loopback address; pass --allow-remote to load it")
            }
        }
        if !allowRemote {
            for address in sourceAddresses.addresses where !address.hasPrefix("127.") && address != "::1" {
                problems.append("source address \(address) is not loopback; pass --allow-remote")
            }
        }
        if hello != nil && dialect != .generic { problems.append("--hello is for the generic dialect (--generic)") }
        if !steps.isEmpty && publish == .none { problems.append("steps need a publish route (--publish)") }
        if publishConnections < 1 || publishConnections > 1_000 { problems.append("--publish-connections must be 1-1000") }
        if durationSeconds <= 0 { problems.append("--duration must be positive") }
        if dialect != .herald && (resume || typingPerSecond > 0 || presencePerSecond > 0) {
            problems.append("--resume, --typing-rate and --presence-rate need the Herald dialect")
        }
        if resume, case .redisPublish = publish { problems.append("--resume needs events with offsets: --publish function or http") }
        if typingPerSecond < 0 || presencePerSecond < 0 { problems.append("--typing-rate and --presence-rate must not be negative") }
        if clientMessagesPerConnection > clientRateLimit {
            problems.append(
                "--typing-rate + --presence-rate is \(clientMessagesPerConnection) messages/s per connection, over the server's flood limit of \(clientRateLimit)/s (--client-rate-limit)")
        }
        if typingConversations < 1 || typingConversations > 16 { problems.append("--typing-conversations must be 1…16 (Herald's per-connection cap)") }
        if sampleSeconds < 0 { problems.append("--sample-seconds must not be negative") }
        return problems
    }
}
