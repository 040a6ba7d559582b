import CoreMetrics
import Prometheus

/// Every metric `docketd` exposes, with its help text and, for histograms, its buckets: the
/// one list the factory, the exposition and the tests read.
///
/// Two kinds of figures sit side by side. Counters, histograms, `docket_connections` and
/// `docket_waiting_claims` count what happened in this daemon since it started; sum them
/// across the daemons of a shared PostgreSQL store. `docket_jobs` and
/// `docket_queue_lag_seconds` are read from the store at scrape time and describe the whole
/// store; every daemon of a shared store reports the same figures, so take their max.
struct MetricSpec: Sendable {
    enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    let name: String
    let kind: Kind
    let help: String
    /// Upper bounds in seconds, for histograms.
    let buckets: [Double]

    init(_ name: String, _ kind: Kind, _ help: String, buckets: [Double] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.buckets = buckets
    }
}

enum MetricCatalogue {
    static let jobs = MetricSpec(
        "docket_jobs", .gauge,
        "Jobs in the store by queue and state, read at scrape time. Whole store: every docketd of a shared PostgreSQL database reports the same figures.")
    static let queueLag = MetricSpec(
        "docket_queue_lag_seconds", .gauge,
        "Age of the oldest eligible pending job of each queue (0 when none waits), read at scrape time. Whole store: every docketd of a shared PostgreSQL database reports the same figures.")
    static let enqueued = MetricSpec(
        "docket_jobs_enqueued_total", .counter,
        "Jobs enqueued through this docketd since it started (schedule slots included; an enqueue that found its unique_key stored adds nothing). Per daemon.")
    static let claimed = MetricSpec(
        "docket_jobs_claimed_total", .counter, "Jobs handed to a claim by this docketd since it started, one per attempt. Per daemon.")
    static let completed = MetricSpec(
        "docket_jobs_completed_total", .counter, "Jobs completed through this docketd since it started. Per daemon.")
    static let failed = MetricSpec(
        "docket_jobs_failed_total", .counter,
        "Jobs that failed for good in this docketd since it started (attempts used up, fail with retry false, or a last lease expiry); failures that are retried are not counted. Per daemon.")
    static let leaseExpired = MetricSpec(
        "docket_lease_expired_total", .counter,
        "Leases this docketd ended since it started because they passed without renewal, or because the claimant disconnected before the claim reached it. Per daemon.")
    static let requests = MetricSpec(
        "docket_requests_total", .counter,
        "Requests this docketd answered since it started, by op and outcome (ok, or the error code); a line that names no op this daemon serves counts as op unknown. Per daemon.")
    static let connections = MetricSpec("docket_connections", .gauge, "Client connections open to this docketd now. Per daemon.")
    static let waitingClaims = MetricSpec(
        "docket_waiting_claims", .gauge, "Claims parked in this docketd waiting for a job now. Per daemon.")
    static let jobWait = MetricSpec(
        "docket_job_wait_seconds", .histogram,
        "Time from a job becoming eligible (its run_at, which the completion of its last dependency moves to that time) to its claim, for claims made by this docketd. Per daemon.",
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600])
    static let jobRun = MetricSpec(
        "docket_job_run_seconds", .histogram,
        "Time from a job's claim to its final state (completed, failed, cancelled), for attempts claimed and ended in this docketd; attempts that end in a retry are not observed. Per daemon.",
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200])
    static let commit = MetricSpec(
        "docket_commit_seconds", .histogram,
        "Time this docketd's writer takes to apply and commit one batch of changes as one transaction (with SQLite, the flush to disk follows on another thread). Per daemon.",
        buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])

    static let all: [MetricSpec] = [
        jobs, queueLag, enqueued, claimed, completed, failed, leaseExpired, requests, connections, waitingClaims, jobWait,
        jobRun, commit,
    ]

    static let byName: [String: MetricSpec] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}

/// swift-metrics' factory for Docket's metrics, over a swift-prometheus registry of one
/// daemon's own (no process-wide bootstrap, so tests can run several daemons in one process).
///
/// swift-prometheus' own `PrometheusMetricsFactory` registers every metric with an empty help
/// text and has no way to take one, and the registry refuses a second registration of a name
/// with a different help text; the contract wants `# HELP` on every metric. This factory looks
/// each label up in `MetricCatalogue`, so the help text and histogram buckets live in one
/// place and the instrumentation stays plain swift-metrics.
struct CatalogueMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func spec(_ label: String) -> MetricSpec {
        guard let spec = MetricCatalogue.byName[label] else {
            preconditionFailure("metric \(label) is not in MetricCatalogue; add it there with its help text")
        }
        return spec
    }

    /// The registry's name: the catalogue's names already end in their unit.
    private func descriptor(_ spec: MetricSpec) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: spec.name, unitName: "", helpText: spec.help)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(spec(label)), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let spec = spec(label)
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(spec), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(spec), labels: dimensions, buckets: spec.buckets)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let spec = spec(label)
        return registry.makeDurationHistogram(
            descriptor: descriptor(spec), labels: dimensions, buckets: spec.buckets.map { .nanoseconds(Int64(($0 * 1e9).rounded())) })
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: registry.unregisterGauge(gauge)
        case let histogram as ValueHistogram: registry.unregisterValueHistogram(histogram)
        default: break
        }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
