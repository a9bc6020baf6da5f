import CoreMetrics
import Metrics
import Prometheus

/// The front door's metrics, rendered as Prometheus text on `GET /metrics`.
///
/// Built on swift-metrics with swift-prometheus as the backend, through an explicit factory rather
/// than the process-wide `MetricsSystem`, so several services (and tests) can live in one process.
struct PlugMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let requests: [String: CoreMetrics.Counter]
    private let durations: [String: Metrics.Timer]
    let queueDepth: CoreMetrics.Gauge
    private let rounds: CoreMetrics.Counter
    private let roundSize: CoreMetrics.Recorder
    private let roundDuration: Metrics.Timer
    /// Connections open now, refused over the cap, and closed by a connection timeout (by kind).
    let connectionsOpen: CoreMetrics.Gauge
    private let connectionsRefused: CoreMetrics.Counter
    /// The last minute's calls and their latencies, for `GetClusterStatus`.
    private let recent: RecentActivity

    init(
        routes: [String], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        recent: RecentActivity = RecentActivity()
    ) {
        self.registry = registry
        self.recent = recent
        var factory = PrometheusMetricsFactory(registry: registry)
        // Sub-millisecond buckets: rounds and most requests finish well under the 5 ms default.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
        ]
        factory.valueHistogramBuckets["mpiplug_round_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        self.factory = factory
        requests = Dictionary(uniqueKeysWithValues: routes.map {
            ($0, CoreMetrics.Counter(label: "mpiplug_requests_total", dimensions: [("route", $0)], factory: factory))
        })
        durations = Dictionary(uniqueKeysWithValues: routes.map {
            ($0, Metrics.Timer(label: "mpiplug_request_duration_seconds", dimensions: [("route", $0)], factory: factory))
        })
        queueDepth = CoreMetrics.Gauge(label: "mpiplug_queue_depth", factory: factory)
        rounds = CoreMetrics.Counter(label: "mpiplug_rounds_total", factory: factory)
        roundSize = CoreMetrics.Recorder(label: "mpiplug_round_batch_size", aggregate: true, factory: factory)
        roundDuration = Metrics.Timer(label: "mpiplug_round_duration_seconds", factory: factory)
        connectionsOpen = CoreMetrics.Gauge(label: "mpiplug_connections_open", factory: factory)
        connectionsRefused = CoreMetrics.Counter(label: "mpiplug_connections_refused_total", factory: factory)
    }

    /// Counts a finished request of a known route, with its duration and, if it failed, its code.
    func recordRequest(route: String, seconds: Double, error: ConnectError?) {
        requests[route]?.increment()
        durations[route]?.recordNanoseconds(Int64(seconds * 1e9))
        recent.recordRequest(seconds: seconds)
        if let error { recordError(route: route, code: error.code) }
    }

    /// Counts a refused or failed request, by route (or "unknown") and Connect code.
    func recordError(route: String, code: ConnectCode) {
        CoreMetrics.Counter(
            label: "mpiplug_request_errors_total", dimensions: [("route", route), ("code", code.rawValue)],
            factory: factory
        ).increment()
    }

    /// Why a request was refused or dropped without running, for `mpiplug_requests_shed_total`.
    enum ShedReason: String {
        /// The front door's queue was full (by count or by bytes): answered 429 with `Retry-After`.
        case queueFull = "queue_full"
        /// Its client hung up while it waited: dropped before any rank saw it.
        case clientGone = "client_gone"
        /// Larger once encoded than a whole round may be (`--max-round-bytes`): answered 413.
        case overRoundBudget = "over_round_budget"
        /// In a round that could not be serialised within its budget: answered `internal` or 429.
        case roundSerialisation = "round_serialisation"
    }

    /// Counts a request that was shed: refused or dropped before it reached any rank.
    func recordShed(reason: ShedReason) {
        CoreMetrics.Counter(label: "mpiplug_requests_shed_total", dimensions: [("reason", reason.rawValue)], factory: factory)
            .increment()
    }

    /// Counts the requests of a round that could not be serialised within its budget (none was sent).
    func recordRoundRefused(requests: Int) {
        CoreMetrics.Counter(label: "mpiplug_round_serialisation_failures_total", factory: factory).increment()
        for _ in 0..<requests { recordShed(reason: .roundSerialisation) }
    }

    func recordRound(requests: Int, seconds: Double) {
        rounds.increment()
        roundSize.record(requests)
        roundDuration.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Counts a connection refused because ``MPIPlugConfiguration/maximumConnections`` were open.
    func connectionRefused() { connectionsRefused.increment() }

    /// Counts a connection closed by one of the connection timeouts.
    func connectionTimedOut(_ kind: ConnectionGuard.Timeout) {
        CoreMetrics.Counter(label: "mpiplug_connection_timeouts_total", dimensions: [("kind", kind.rawValue)], factory: factory)
            .increment()
    }

    /// Why the front door closed an HTTP/2 connection, for `mpiplug_http2_connections_closed_total`.
    enum HTTP2CloseReason: String {
        /// More streams opened than ``MPIPlugConfiguration/maximumConcurrentStreams`` allows.
        case streamLimit = "stream_limit"
        /// More RST_STREAM frames than ``MPIPlugConfiguration/maximumStreamResets`` per window.
        case rapidReset = "rapid_reset"
        /// Too many streams that broke the protocol.
        case streamErrors = "stream_errors"
        /// A flood of control, empty or continuation frames, or a client that does not read.
        case frameFlood = "frame_flood"
    }

    /// Counts an HTTP/2 connection closed for breaking a limit.
    func http2ConnectionClosed(_ reason: HTTP2CloseReason) {
        CoreMetrics.Counter(label: "mpiplug_http2_connections_closed_total", dimensions: [("reason", reason.rawValue)], factory: factory)
            .increment()
    }

    /// The Prometheus text exposition of every metric.
    func render() -> [UInt8] {
        var buffer = [UInt8]()
        registry.emit(into: &buffer)
        return buffer
    }
}
