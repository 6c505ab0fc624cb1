import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The JWKS of an identity provider, fetched over HTTP(S) and kept fresh: a long-running part
/// with an explicit life cycle (``run()``), fetching at start, again when the response's
/// `Cache-Control: max-age` or the regular interval runs out, and when a token names an unknown
/// `kid` — at most once per minimum interval, and one fetch at a time however many tokens wait
/// for it (single-flight).
///
/// A failed fetch keeps the last good key set (logged, and counted in
/// `herald_jwks_fetch_failures_total`); the node is ready only once a first fetch succeeded.
/// Nothing here blocks an event loop: fetches run on AsyncHTTPClient, verifiers read the current
/// set without waiting, and only a token with an unknown `kid` awaits a fetch.
public actor JWKSSource: Service {
    /// Where to fetch from and how often.
    public struct Configuration: Sendable {
        /// `https://…`, or `http://…` on a loopback host.
        public var url: String
        /// Between fetches when the response carries no `max-age`; also the longest `max-age` honoured.
        public var refreshInterval: Duration
        /// The shortest time between two fetches: the floor of `max-age`, and the spacing of
        /// fetches caused by unknown `kid`s.
        public var minimumRefreshInterval: Duration
        /// How long one fetch may take.
        public var timeout: Duration
        /// The largest JWKS document accepted.
        public var maximumBytes: Int

        public init(
            url: String, refreshInterval: Duration = .seconds(600), minimumRefreshInterval: Duration = .seconds(30),
            timeout: Duration = .seconds(10), maximumBytes: Int = 1 << 20
        ) {
            self.url = url
            self.refreshInterval = refreshInterval
            self.minimumRefreshInterval = minimumRefreshInterval
            self.timeout = timeout
            self.maximumBytes = maximumBytes
        }
    }

    /// Why one fetch failed.
    private struct FetchError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private let configuration: Configuration
    private let logger: Logger
    private let metrics: NodeMetrics
    private let elapsed: @Sendable () -> Duration
    /// Suspends the refresh task (never a thread) until the next fetch is due.
    private let waitFor: @Sendable (Duration) async throws -> Void
    private var policy: JWKSRefreshPolicy
    private var client: HTTPClient?
    private var inFlight: Task<Bool, Never>?
    /// The last good set, readable without a hop onto the actor.
    private nonisolated let snapshot = NIOLockedValueBox<(keys: VerificationKeySet?, problem: String?)>((nil, "the JWKS has not been fetched yet"))

    /// - Parameter clock: the clock fetches are scheduled on (tests may pass their own).
    public init(
        configuration: Configuration, logger: Logger, metrics: NodeMetrics, clock: some Clock<Duration> = ContinuousClock()
    ) throws(ConfigurationError) {
        try Self.validate(url: configuration.url)
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "jwks.url"] = "\(configuration.url)"
        self.logger = logger
        self.metrics = metrics
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        self.waitFor = { duration in try await Task.sleep(for: duration, clock: clock) }
        self.policy = JWKSRefreshPolicy(interval: configuration.refreshInterval, minimumInterval: configuration.minimumRefreshInterval)
    }

    /// Refuses URLs that are not `https://`, or `http://` on a loopback host (a JWKS over plain
    /// HTTP from elsewhere could be swapped in transit, and with it every token).
    public static func validate(url: String) throws(ConfigurationError) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty else {
            throw .invalidJWKSURL(url, reason: "not an absolute URL")
        }
        switch scheme {
        case "https":
            return
        case "http":
            let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
            guard bare == "localhost" || bare == "::1" || bare.hasPrefix("127.") else {
                throw .invalidJWKSURL(url, reason: "plain http:// is accepted for loopback hosts only; use https://")
            }
        default:
            throw .invalidJWKSURL(url, reason: "the scheme must be https")
        }
    }

    /// Whether a key set was fetched (the node is not ready before).
    public nonisolated var isReady: Bool { snapshot.withLockedValue { $0.keys != nil } }

    /// Why the source is not ready, or what went wrong with the last fetch; nil when all is well.
    public nonisolated var problem: String? { snapshot.withLockedValue { $0.problem } }

    /// The last good key set, without waiting.
    nonisolated var currentKeys: VerificationKeySet? { snapshot.withLockedValue { $0.keys } }

    /// The key `kid` selects, fetching the JWKS again first when no current key has it and the
    /// minimum interval allows (or joining the fetch already running).
    func key(forUnknown kid: String) async -> VerificationKey? {
        if let key = currentKeys?.key(kid: kid) { return key }
        if inFlight == nil {
            guard policy.mayRefreshForUnknownKey(at: elapsed()) else { return nil }
            metrics.jwksUnknownKeyFetches.increment()
            logger.info("unknown kid: fetching the JWKS", metadata: ["jwks.kid": "\(kid.prefix(64))"])
        }
        _ = await refresh()
        return currentKeys?.key(kid: kid)
    }

    /// Fetches at start (retrying until a fetch succeeds), then whenever one is due, until the
    /// task is cancelled or the service group shuts down.
    public func run() async throws {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(5), read: TimeAmount(configuration.timeout))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration, backgroundActivityLogger: logger)
        self.client = client
        await cancelWhenGracefulShutdown {
            await self.refreshLoop()
        }
        self.client = nil
        try? await client.shutdown()
    }

    private func refreshLoop() async {
        while !Task.isCancelled {
            let wait = policy.nextRefresh - elapsed()
            if wait > .zero {
                do { try await waitFor(wait) } catch { return }
            }
            if policy.nextRefresh <= elapsed() { _ = await refresh() }
        }
    }

    /// Starts a fetch, or joins the one running; true when it succeeded.
    private func refresh() async -> Bool {
        if let inFlight { return await inFlight.value }
        let task = Task { await self.fetch() }
        inFlight = task
        return await task.value
    }

    private func fetch() async -> Bool {
        defer { inFlight = nil }
        policy.started(at: elapsed())
        metrics.jwksFetches.increment()
        do {
            guard let client else { throw FetchError("the JWKS source is not running") }
            var request = HTTPClientRequest(url: configuration.url)
            request.headers.add(name: "accept", value: "application/json, application/jwk-set+json")
            let response = try await client.execute(request, timeout: TimeAmount(configuration.timeout), logger: logger)
            guard response.status == .ok else {
                throw FetchError("the server answered \(response.status.code) \(response.status.reasonPhrase)")
            }
            let body = try await response.body.collect(upTo: configuration.maximumBytes)
            let keys: VerificationKeySet
            do {
                keys = try await VerificationKeySet(jwksJSON: Array(body.readableBytesView))
            } catch {
                throw FetchError("the body is not a JWKS document: \(error)")
            }
            guard !keys.isEmpty else { throw FetchError("the JWKS holds no RS256 or ES256 signing key") }
            let maxAge = response.headers.first(name: "cache-control").flatMap(JWKSRefreshPolicy.maxAge(cacheControl:))
            policy.succeeded(at: elapsed(), maxAge: maxAge)
            let previous = snapshot.withLockedValue { state in
                defer { state = (keys, nil) }
                return state.keys
            }
            metrics.jwksKeys.set(Int64(keys.count))
            if previous.map({ Set($0.byKeyID.keys) != Set(keys.byKeyID.keys) }) ?? true {
                logger.info("JWKS loaded", metadata: [
                    "jwks.keys": "\(keys.count)", "jwks.kids": "\(keys.byKeyID.keys.sorted().joined(separator: ","))",
                    "jwks.skipped": "\(keys.skipped)",
                ])
            }
            return true
        } catch {
            policy.failed(at: elapsed())
            metrics.jwksFetchFailures.increment()
            let kept = snapshot.withLockedValue { state in
                state.problem = "JWKS fetch failed: \(error)"
                return state.keys?.count
            }
            logger.warning("JWKS fetch failed; keeping the last good key set", metadata: [
                "error": "\(error)", "jwks.kept_keys": "\(kept ?? 0)", "jwks.retry_in": "\(policy.nextRefresh - elapsed())",
            ])
            return false
        }
    }
}
