import HeraldProtocol
import Prometheus

/// The node's Prometheus metrics, created once with fixed names and no per-account labels,
/// and served at `GET /metrics`.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let connections: Gauge
    let connectionsOpened: Counter
    let handshakesRefused: Counter
    let eventsReceived: Counter
    let eventsDropped: Counter
    let deliveries: Counter
    let slowConsumerCloses: Counter
    let idleCloses: Counter
    let connectionsShed: Counter
    let clientErrors: Counter
    let publishes: Counter
    let publishFailures: Counter
    let jwksFetches: Counter
    let jwksFetchFailures: Counter
    let jwksUnknownKeyFetches: Counter
    let jwksKeys: Gauge
    let tokenExpiryCloses: Counter
    let tokenRefreshes: Counter
    let upstreamMessages: Counter
    let upstreamFailures: Counter
    let lifecycleFailures: Counter
    /// Broker events dropped before delivery, one counter per reason (`herald_events_rejected_total{reason}`).
    let eventsRejected: [EventRouting.DropReason: Counter]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        connections = registry.makeGauge(descriptor: .init(namespace: "herald", metricName: "connections", unitName: "count", helpText: "Open WebSocket connections on this node"))
        connectionsOpened = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "connections_opened", unitName: "total", helpText: "WebSocket connections accepted"))
        handshakesRefused = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "handshakes_refused", unitName: "total", helpText: "Upgrade requests refused (auth, origin, draining)"))
        eventsReceived = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "events_received", unitName: "total", helpText: "Events received from the broker"))
        eventsDropped = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "events_dropped", unitName: "total", helpText: "Broker events dropped before delivery (invalid, ambiguous or forged; see herald_events_rejected_total)"))
        deliveries = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "deliveries", unitName: "total", helpText: "Event frames written to clients"))
        slowConsumerCloses = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "slow_consumer_closes", unitName: "total", helpText: "Clients closed with 4001 because their outbound buffer filled"))
        connectionsShed = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "connections_shed", unitName: "total", helpText: "TCP connections closed on accept because the node was at its connection cap"))
        idleCloses = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "idle_closes", unitName: "total", helpText: "Clients closed with 4000 after two silent heartbeats"))
        clientErrors = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "client_errors", unitName: "total", helpText: "Error frames sent to clients"))
        publishes = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "api_publishes", unitName: "total", helpText: "Events published through the HTTP API"))
        publishFailures = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "api_publish_failures", unitName: "total", helpText: "HTTP API publishes that failed (broker unavailable)"))
        jwksFetches = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "jwks_fetches", unitName: "total", helpText: "JWKS fetches started (start-up, schedule and unknown kid)"))
        jwksFetchFailures = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "jwks_fetch_failures", unitName: "total", helpText: "JWKS fetches that failed; the last good key set stays in use"))
        jwksUnknownKeyFetches = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "jwks_unknown_kid_fetches", unitName: "total", helpText: "JWKS fetches caused by a token with an unknown kid"))
        jwksKeys = registry.makeGauge(descriptor: .init(namespace: "herald", metricName: "jwks_keys", unitName: "count", helpText: "Keys in the JWKS fetched last"))
        tokenExpiryCloses = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "token_expiry_closes", unitName: "total", helpText: "Connections closed with 4003 because their token expired"))
        tokenRefreshes = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "token_refreshes", unitName: "total", helpText: "refresh messages that extended a connection"))
        upstreamMessages = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "upstream_messages", unitName: "total", helpText: "Client messages handed to the upstream (stream or HTTP)"))
        upstreamFailures = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "upstream_failures", unitName: "total", helpText: "Client messages the upstream did not accept (answered unavailable or upstream_failed)"))
        lifecycleFailures = registry.makeCounter(descriptor: .init(namespace: "herald", metricName: "lifecycle_failures", unitName: "total", helpText: "Connection open/close entries that could not be appended to the lifecycle stream"))
        eventsRejected = Dictionary(uniqueKeysWithValues: EventRouting.DropReason.allCases.map { reason in
            (reason, registry.makeCounter(
                descriptor: .init(namespace: "herald", metricName: "events_rejected", unitName: "total", helpText: "Broker events dropped before delivery, by reason (also counted in herald_events_dropped_total)"),
                labels: [("reason", reason.rawValue)]))
        })
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
