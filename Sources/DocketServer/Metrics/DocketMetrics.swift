import CoreMetrics
import DocketProtocol
import DocketStore
import NIOConcurrencyHelpers
import Prometheus

/// One daemon's metrics: the swift-prometheus registry they live in, the request counters the
/// connections bump, and the exposition that adds what the store holds at scrape time.
///
/// The writer counts job transitions (`BatchMetrics`); the connections count requests here;
/// a scrape (the `metrics` op or `GET /metrics`) reads the store on a reader thread and
/// renders everything there, never on an event loop.
public final class DocketMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: CatalogueMetricsFactory
    /// A counter per (op, outcome) seen so far; answering must not go through the registry's
    /// name and label lookup each time.
    private let requests = NIOLockedValueBox<[RequestKey: CoreMetrics.Counter]>([:])
    /// The gauges a scrape sets; one scrape at a time sets and emits them.
    private let scrape: NIOLockedValueBox<ScrapeGauges>

    private struct RequestKey: Hashable {
        let op: String
        let outcome: String
    }

    public init() {
        factory = CatalogueMetricsFactory(registry: registry)
        scrape = NIOLockedValueBox(ScrapeGauges(factory: factory))
    }

    /// Counts one answered request: `ok`, or the refusal's code.
    func answered(_ op: String, _ reply: Reply) {
        if case .failure(let error) = reply { count(op: op, outcome: error.code.rawValue) } else { count(op: op, outcome: "ok") }
    }

    /// Counts a line refused before it became a request; `op` when it named one this daemon serves.
    func refused(op: String?, _ code: ErrorCode) {
        count(op: op ?? "unknown", outcome: code.rawValue)
    }

    private func count(op: String, outcome: String) {
        let key = RequestKey(op: op, outcome: outcome)
        requests.withLockedValue { counters in
            if let counter = counters[key] {
                counter.increment()
                return
            }
            let counter = CoreMetrics.Counter(
                label: MetricCatalogue.requests.name, dimensions: [("op", op), ("outcome", outcome)], factory: factory)
            counters[key] = counter
            counter.increment()
        }
    }

    /// What the store holds, read in one snapshot on a reader thread.
    struct StoreFigures: Sendable {
        var counts: [(queue: String, counts: [(state: JobState, count: Int64)])]
        var oldestEligible: [String: Int64]

        static func read(_ reader: any JobReader) throws(StoreError) -> StoreFigures {
            try reader.snapshot { () throws(StoreError) -> StoreFigures in
                StoreFigures(counts: try reader.counts(), oldestEligible: try reader.oldestEligible())
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of everything: the store's figures as
    /// read, this daemon's counters and histograms, and its connections and parked claims.
    func exposition(_ store: StoreFigures, connections: Int, waitingClaims: Int, now: Int64) -> String {
        scrape.withLockedValue { gauges in
            gauges.set(store, connections: connections, waitingClaims: waitingClaims, now: now)
            return ExpositionOrder.sorted(registry.emitToString())
        }
    }
}

/// The gauges only a scrape sets, with the series of the last scrape, so a queue that has
/// left the store leaves the exposition too.
private struct ScrapeGauges {
    let factory: CatalogueMetricsFactory
    let connections: CoreMetrics.Gauge
    let waitingClaims: CoreMetrics.Gauge
    var jobs: [SeriesKey: CoreMetrics.Gauge] = [:]
    var lag: [String: CoreMetrics.Gauge] = [:]

    struct SeriesKey: Hashable {
        let queue: String
        let state: JobState
    }

    init(factory: CatalogueMetricsFactory) {
        self.factory = factory
        connections = CoreMetrics.Gauge(label: MetricCatalogue.connections.name, factory: factory)
        waitingClaims = CoreMetrics.Gauge(label: MetricCatalogue.waitingClaims.name, factory: factory)
    }

    mutating func set(_ store: DocketMetrics.StoreFigures, connections: Int, waitingClaims: Int, now: Int64) {
        self.connections.record(connections)
        self.waitingClaims.record(waitingClaims)
        var jobs: [SeriesKey: CoreMetrics.Gauge] = [:]
        var lag: [String: CoreMetrics.Gauge] = [:]
        for (queue, counts) in store.counts {
            // Every state of a known queue, zeros included: a series that vanishes at 0 reads
            // as "no data" in a graph or an alert, not as 0.
            for state in JobState.allCases {
                let key = SeriesKey(queue: queue, state: state)
                let gauge =
                    self.jobs.removeValue(forKey: key)
                    ?? CoreMetrics.Gauge(
                        label: MetricCatalogue.jobs.name, dimensions: [("queue", queue), ("state", state.rawValue)],
                        factory: factory)
                gauge.record(counts.first { $0.state == state }?.count ?? 0)
                jobs[key] = gauge
            }
            let gauge =
                self.lag.removeValue(forKey: queue)
                ?? CoreMetrics.Gauge(label: MetricCatalogue.queueLag.name, dimensions: [("queue", queue)], factory: factory)
            gauge.record(Double(store.oldestEligible[queue].map { max(0, now - $0) } ?? 0) / 1000)
            lag[queue] = gauge
            // A daemon that has not yet seen a queue's jobs change shows its counters at 0, so
            // rate() works from the first scrape after a start.
            _ = QueueInstruments(queue: queue, factory: factory)
        }
        for gone in self.jobs.values { gone.destroy() }
        for gone in self.lag.values { gone.destroy() }
        self.jobs = jobs
        self.lag = lag
    }
}

/// One queue's per-daemon counters and histograms.
struct QueueInstruments {
    let enqueued: CoreMetrics.Counter
    let claimed: CoreMetrics.Counter
    let completed: CoreMetrics.Counter
    let failed: CoreMetrics.Counter
    let leaseExpired: CoreMetrics.Counter
    let wait: CoreMetrics.Timer
    let run: CoreMetrics.Timer

    init(queue: String, factory: CatalogueMetricsFactory) {
        let dimensions = [("queue", queue)]
        enqueued = CoreMetrics.Counter(label: MetricCatalogue.enqueued.name, dimensions: dimensions, factory: factory)
        claimed = CoreMetrics.Counter(label: MetricCatalogue.claimed.name, dimensions: dimensions, factory: factory)
        completed = CoreMetrics.Counter(label: MetricCatalogue.completed.name, dimensions: dimensions, factory: factory)
        failed = CoreMetrics.Counter(label: MetricCatalogue.failed.name, dimensions: dimensions, factory: factory)
        leaseExpired = CoreMetrics.Counter(label: MetricCatalogue.leaseExpired.name, dimensions: dimensions, factory: factory)
        wait = CoreMetrics.Timer(label: MetricCatalogue.jobWait.name, dimensions: dimensions, factory: factory)
        run = CoreMetrics.Timer(label: MetricCatalogue.jobRun.name, dimensions: dimensions, factory: factory)
    }
}

extension ServerContext {
    /// The exposition, on the reader thread that holds `reader`: the store's figures are a read.
    func metricsText(_ reader: any JobReader) throws(StoreError) -> String {
        let store = try DocketMetrics.StoreFigures.read(reader)
        return metrics.exposition(store, connections: connectionCount, waitingClaims: writer.waitingClaims, now: clock.now())
    }
}

/// Puts the registry's exposition in a stable order: families as `MetricCatalogue` lists them,
/// and each family's series by their labels.
///
/// swift-prometheus emits families and series in hash order, which changes from one start to
/// the next. Prometheus does not mind, but a person reading `docket metrics` twice, or a diff
/// of two scrapes, does.
enum ExpositionOrder {
    static func sorted(_ text: String) -> String {
        var families: [Substring: [Substring]] = [:]
        var family: Substring = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { family = line.dropFirst(7).prefix { $0 != " " } }
            families[family, default: []].append(line)
        }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for spec in MetricCatalogue.all {
            guard let lines = families[Substring(spec.name)] else { continue }
            for line in sortedSeries(lines) {
                out += line
                out += "\n"
            }
        }
        return out
    }

    /// `# HELP` and `# TYPE` first, then the series by label set; a histogram's lines for one
    /// label set (buckets, sum, count) stay together and in their order.
    private static func sortedSeries(_ lines: [Substring]) -> [Substring] {
        let comments = lines.prefix { $0.hasPrefix("#") }
        var runs: [(key: Substring, lines: [Substring])] = []
        for line in lines.dropFirst(comments.count) {
            let key = labels(of: line)
            if runs.last?.key == key { runs[runs.count - 1].lines.append(line) } else { runs.append((key, [line])) }
        }
        return Array(comments) + runs.sorted { $0.key < $1.key }.flatMap(\.lines)
    }

    /// The series' labels as written, less a histogram bucket's `le` (always the last label,
    /// and its number never holds `le="`, so the last occurrence is the one).
    private static func labels(of line: Substring) -> Substring {
        guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return "" }
        let inside = line[line.index(after: open)..<close]
        guard line[..<open].hasSuffix("_bucket") else { return inside }
        var end = inside.endIndex
        while end > inside.startIndex {
            end = inside.index(before: end)
            if inside[end...].hasPrefix("le=\""), end == inside.startIndex || inside[inside.index(before: end)] == "," {
                return inside[..<(end == inside.startIndex ? end : inside.index(before: end))]
            }
        }
        return inside
    }
}
