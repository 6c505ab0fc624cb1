import ArgumentParser
import Foundation
import Logging
import SwarmKit

/// `swarm run`: one bounded run (ramp, optional steps or ladder, report).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Connect virtual users, publish, and measure delivery.",
        discussion: """
            One swarm process holds at most about 19,000 connections: it raises its open-file soft limit to the
            hard limit (20,000 on the CI machines) and every connection is a file descriptor. Run several processes
            (with different --account-prefix if they publish) for more. Only loopback addresses are loaded unless
            --allow-remote is given. The JSON result is the last line of stdout.
            """)

    @Option(name: .customLong("url"), help: "WebSocket URL (repeat for several nodes or a load balancer); {account} {user} {token} are filled in.")
    var urls: [String] = []
    @Flag(help: "Generic mode: the URL template as is, no token, counted frames are those carrying seq/ts.")
    var generic = false
    @Option(help: "Generic mode: a text frame sent after the upgrade (e.g. Centrifuge's {\"id\":1}); established at the server's answer.")
    var hello: String?
    @Option(help: "A name for this run in reports.") var label: String?
    @Option(help: "Connections to hold.") var connections = 100
    @Option(help: "Accounts the connections are spread over.") var accounts = 10
    @Option(name: .customLong("users"), help: "Users per account (connections of an account are tabs of these users).") var users = 1
    @Option(help: "Account names are <prefix><n>.") var accountPrefix = "swarm"
    @Option(help: "Comma-separated sub-channels: put in tokens and subscribed after connecting.") var channels = ""
    @Option(help: "HS256 secret for tokens (default: $HERALD_JWT_SECRET).") var secret: String?
    @Option(help: "Token claim holding the account.") var accountClaim = "account"
    @Option(help: "New connections per second during the ramp (0: as fast as --max-pending allows).") var ramp = 2000.0
    @Option(help: "Handshakes in flight at once.") var maxPending = 1000
    @Option(help: "Connections closed and reopened per second after the ramp.") var churn = 0.0
    @Option(help: "A churned connection reconnects after a uniform random wait below this (ms; 0: at once).") var churnDowntimeMs = 0
    @Option(help: "Reconnect backoff minimum (ms): full jitter below it after a drop, doubling per failure.") var reconnectMinMs = 1000
    @Option(help: "Reconnect backoff maximum (ms).") var reconnectMaxMs = 30000
    @Flag(help: "Do not reconnect dropped connections.") var noReconnect = false
    @Flag(help: "Herald: reconnect (after churn or a drop) with since=<the last offset the slot received>; resumed slots stay owed every event (needs --publish function or http).")
    var resume = false
    @Option(help: "Herald: typing.start messages per second across the fleet (connections in turn).") var typingRate = 0.0
    @Option(help: "Herald: conversations the typing messages go round (c0, c1, …; at most 16).") var typingConversations = 3
    @Option(help: "Herald: presence.get messages per second across the fleet (connections in turn).") var presenceRate = 0.0
    @Option(help: "The server's per-connection flood limit (messages/s); typing + presence + pings per connection must stay under it.")
    var clientRateLimit = 20.0
    @Option(help: "Handshake timeout, seconds.") var handshakeTimeout = 10.0
    @Option(help: "Source addresses to bind, e.g. 127.0.0.2-127.0.0.20 (each gives ~28k ports).") var sourceAddresses = ""
    @Option(help: "Publish route: none, redis (PUBLISH), function (FCALL herald_publish), http (Herald API or generic POST).")
    var publish = "none"
    @Option(help: "Redis URL for --publish redis/function.") var redis = "redis://127.0.0.1:6379"
    @Option(help: "Redis channel template for --publish redis.") var channelTemplate = "herald:{{account}}"
    @Option(name: .customLong("publish-url"), help: "HTTP publish URL (repeatable); Herald: http://host:port (POST /api/v1/publish); generic: a template like http://127.0.0.1:8081/pub/{account}.")
    var publishURLs: [String] = []
    @Option(name: .customLong("publish-connections"), help: "HTTP publishing: keep-alive connections per endpoint, one request in flight on each.")
    var publishConnections = 8
    @Option(help: "API key for Herald's HTTP API (default: first of $HERALD_API_KEYS).") var apiKey: String?
    @Option(help: "Events per second (one step of --step-seconds).") var rate: Double?
    @Option(help: "Ladder of target deliveries/s, e.g. 10000,50000,100000 (events/s = target / connections per account).")
    var ladder: String?
    @Option(help: "Event size in bytes.") var eventBytes = 200
    @Option(help: "Account choice: round-robin or zipf[:exponent].") var spread = "round-robin"
    @Option(help: "Seconds per step.") var stepSeconds = 10.0
    @Option(help: "Seconds after a step's last publish before it is evaluated.") var graceSeconds = 2.0
    @Option(help: "Seconds between the ramp and the first step.") var settleSeconds = 1.0
    @Option(help: "Seconds to hold connections when nothing is published.") var hold = 0.0
    @Option(help: "A ladder stops at the first step with p99 above this (ms) or any loss.") var maxP99Ms = 100.0
    @Option(help: "Hard cap on the whole run, seconds.") var duration = 120.0
    @Option(help: "Seconds between client pings.") var pingSeconds = 25.0
    @Option(name: .customLong("pid"), help: "Server process to sample RSS/CPU/open descriptors of (repeatable).") var pids: [Int32] = []
    @Option(help: "Seconds between samples of the --pid processes and the fleet, from the start of the load (0: only start/load/end).")
    var sampleSeconds = 60.0
    @Option(help: "Client event loop threads (default: cores).") var eventLoops: Int?
    @Option(help: "File written when the ramp is done.") var readyFile: String?
    @Option(help: "Write the JSON result here too.") var json: String?
    @Option(help: "Write an HTML report here.") var html: String?
    @Flag(help: "Allow non-loopback targets.") var allowRemote = false
    @Flag(help: "No progress line.") var quiet = false
    @Option(help: "Log level for swarm's own logs.") var logLevel = "warning"

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "swarm")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let environment = ProcessInfo.processInfo.environment

        var config = SwarmConfiguration(targets: try urls.map(Endpoint.init(parsing:)))
        config.label = label ?? (generic ? "generic" : "herald")
        config.dialect = generic ? .generic : .herald
        config.connections = connections
        config.accounts = accounts
        config.usersPerAccount = users
        config.accountPrefix = accountPrefix
        config.channels = channels.split(separator: ",").map(String.init)
        config.hello = hello
        config.secret = secret ?? environment["HERALD_JWT_SECRET"]
        config.accountClaim = accountClaim
        config.rampPerSecond = ramp
        config.maxPendingConnects = maxPending
        config.churnPerSecond = churn
        config.churnDowntime = .milliseconds(Int64(churnDowntimeMs))
        config.reconnect = !noReconnect
        config.resume = resume
        config.typingPerSecond = typingRate
        config.typingConversations = typingConversations
        config.presencePerSecond = presenceRate
        config.clientRateLimit = clientRateLimit
        config.sampleSeconds = sampleSeconds
        config.reconnectMinimum = .milliseconds(Int64(reconnectMinMs))
        config.reconnectMaximum = .milliseconds(Int64(reconnectMaxMs))
        config.handshakeTimeout = .milliseconds(Int64(handshakeTimeout * 1000))
        config.sourceAddresses = try SourceAddressPool(parsing: sourceAddresses)
        config.publish = try publishRoute(environment: environment)
        config.publishConnections = publishConnections
        config.spread = try accountSpread()
        config.eventBytes = eventBytes
        config.stepSeconds = stepSeconds
        config.graceSeconds = graceSeconds
        config.settleSeconds = settleSeconds
        config.holdSeconds = hold
        config.maxP99Milliseconds = maxP99Ms
        config.durationSeconds = duration
        config.pingSeconds = pingSeconds
        config.serverPIDs = pids
        if let eventLoops { config.eventLoops = eventLoops }
        config.readyFile = readyFile
        config.progress = !quiet
        if let ladder {
            config.isLadder = true
            config.steps = try ladder.split(separator: ",").map { text in
                guard let target = Double(text.trimmingCharacters(in: .whitespaces)), target > 0 else {
                    throw ValidationError("--ladder: \(text) is not a positive number")
                }
                return .init(eventsPerSecond: target / config.connectionsPerAccount, targetDeliveriesPerSecond: target)
            }
        } else if let rate {
            config.steps = [.init(eventsPerSecond: rate, targetDeliveriesPerSecond: rate * config.connectionsPerAccount)]
        }
        let problems = config.problems(allowRemote: allowRemote)
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }

        let limit = FileDescriptorLimit.raiseToHardLimit()
        if connections + 200 > limit {
            throw ValidationError("\(connections) connections need more than the \(limit) open files this process may have; run several swarm processes")
        }
        // A watchdog in case a server stops answering: the run is bounded whatever happens.
        let cap = duration + 30
        Task.detached {
            try? await Task.sleep(for: .seconds(cap))
            FileHandle.standardError.write(Data("swarm: hard cap of \(Int(cap)) s passed, exiting\n".utf8))
            Foundation.exit(3)
        }
        let quietRun = quiet
        let report = try await SwarmRun(configuration: config, logger: logger) { line in
            guard !quietRun else { return }
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }.run()

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let compact = try encoder.encode(report)
        if let json {
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if let html {
            try HTMLReport.render([report], title: "swarm: \(config.label)").write(toFile: html, atomically: true, encoding: .utf8)
        }
        print(ReportTable.render(report))
        print(String(decoding: compact, as: UTF8.self))
    }

    private func publishRoute(environment: [String: String]) throws -> SwarmConfiguration.PublishRoute {
        switch publish {
        case "none":
            return .none
        case "redis":
            return .redisPublish(try Endpoint(parsing: redis), channelTemplate: channelTemplate)
        case "function":
            return .redisFunction(try Endpoint(parsing: redis))
        case "http":
            let endpoints = try publishURLs.map(Endpoint.init(parsing:))
            guard !endpoints.isEmpty else { throw ValidationError("--publish http needs --publish-url") }
            if generic { return .genericHTTP(endpoints) }
            let key = apiKey ?? environment["HERALD_API_KEYS"]?.split(separator: ",").first.map(String.init)
            guard let key else { throw ValidationError("--publish http needs --api-key or HERALD_API_KEYS") }
            return .heraldHTTP(endpoints, apiKey: key)
        default:
            throw ValidationError("--publish: none, redis, function or http")
        }
    }

    private func accountSpread() throws -> AccountPicker.Spread {
        if spread == "round-robin" { return .roundRobin }
        if spread.hasPrefix("zipf") {
            let exponent = spread.split(separator: ":").dropFirst().first.flatMap { Double($0) } ?? 1.0
            return .zipf(exponent: exponent)
        }
        throw ValidationError("--spread: round-robin or zipf[:exponent]")
    }
}
