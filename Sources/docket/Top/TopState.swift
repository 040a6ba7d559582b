import DocketProtocol

/// What `docket top` shows, kept up to date from `watch` events (running jobs, failures,
/// completions per second) and the once-a-second poll (counts, lag, queue settings).
struct TopState {
    struct QueueRow {
        var name: String
        var pending: Int64 = 0
        var running: Int64 = 0
        /// Seconds; nil when the daemon does not report it (no `metrics` op).
        var lag: Double?
        var paused = false
        /// `max 4`, `30/1m`: the queue's limits in a few characters, when it has any.
        var limits: String?
    }

    struct RunningJob {
        var id: Int64
        var queue: String
        var version: Int64
        var worker: String?
        /// When the attempt was claimed, from its `claimed` event; nil until known.
        var claimedAt: Int64?
        var progress: String?
        var leaseExpiresAt: Int64?
    }

    struct Failure {
        var at: Int64
        var job: Int64
        var queue: String
        /// Failed for good, as opposed to an attempt that will be retried.
        var final: Bool
        var error: String
    }

    var queues: [QueueRow] = []
    var connections: Int?
    var waitingClaims: Int?
    var running: [Int64: RunningJob] = [:]
    /// Newest first.
    var failures: [Failure] = []
    var finishes = FinishRates()
    /// The selected queue; nil selects all of them.
    var selected: String?
    /// A line for the footer: what `p` did, or why the daemon cannot be read.
    var status: String?

    static let keptFailures = 50

    // MARK: Events

    mutating func apply(_ event: JobEvent) {
        finishes.count(event)
        if event.state == .failed || event.kind == .retryScheduled {
            failures.insert(
                Failure(at: event.at, job: event.job, queue: event.queue, final: event.state == .failed, error: event.data?.text ?? "-"),
                at: 0)
            if failures.count > Self.keptFailures { failures.removeLast() }
        }
        if let known = running[event.job] {
            // The list the view started from may already be newer than a replayed event.
            guard event.version > known.version else { return }
        }
        guard event.state == .running else {
            running[event.job] = nil
            return
        }
        var job = running[event.job] ?? RunningJob(id: event.job, queue: event.queue, version: event.version)
        job.version = event.version
        switch event.kind {
        case .claimed:
            job.claimedAt = event.at
            job.worker = event.data?.value["worker"]?.string
            job.progress = nil
            job.leaseExpiresAt = nil
        case .progress:
            job.progress = event.data?.text
        default:
            break
        }
        running[event.job] = job
    }

    /// A running job as a read of it shows it (the list the view starts from, or a refresh of
    /// a job on screen); a job that is no longer running leaves the view.
    mutating func apply(_ job: Job) {
        if let known = running[job.id], known.version > job.version { return }
        guard job.state == .running else {
            running[job.id] = nil
            return
        }
        var entry = running[job.id] ?? RunningJob(id: job.id, queue: job.queue, version: job.version)
        entry.version = job.version
        entry.worker = job.worker
        entry.progress = job.progress?.text
        entry.leaseExpiresAt = job.leaseExpiresAt
        running[job.id] = entry
    }

    // MARK: The poll

    /// Counts and lag from a `metrics` answer; queues keep their settings from `queue_list`.
    mutating func apply(metrics: MetricSamples) {
        let pending = metrics.byQueue("docket_jobs", where: [("state", "pending")])
        let running = metrics.byQueue("docket_jobs", where: [("state", "running")])
        let lag = metrics.byQueue("docket_queue_lag_seconds")
        setQueues(Set(pending.keys).union(running.keys).sorted()) { row in
            row.pending = Int64(pending[row.name] ?? 0)
            row.running = Int64(running[row.name] ?? 0)
            row.lag = lag[row.name]
        }
        connections = metrics.value("docket_connections").map { Int($0) }
        waitingClaims = metrics.value("docket_waiting_claims").map { Int($0) }
    }

    /// Counts from `stats`, for a daemon without the `metrics` op (no lag then).
    mutating func apply(stats: Statistics) {
        setQueues(stats.queues.map(\.queue)) { row in
            let counts = stats.queues.first { $0.queue == row.name }?.counts ?? []
            row.pending = counts.first { $0.state == .pending }?.count ?? 0
            row.running = counts.first { $0.state == .running }?.count ?? 0
            row.lag = nil
        }
        connections = stats.connections
        waitingClaims = stats.waitingClaims
    }

    /// Paused and limits from `queue_list`: `queues`, each with `name`, `paused`,
    /// `max_running`, `rate` {`max`, `per_ms`}.
    mutating func apply(queueList: [JSONValue]) {
        for queue in queueList {
            guard let name = queue["name"]?.string, let index = queues.firstIndex(where: { $0.name == name }) else { continue }
            queues[index].paused = queue["paused"]?.bool ?? false
            var limits: [String] = []
            if let max = queue["max_running"]?.int64 { limits.append("max \(max)") }
            if let rate = queue["rate"], let most = rate["max"]?.int64, let per = rate["per_ms"]?.int64 {
                limits.append("\(most)/\(RelativeTime.span(UInt64(max(per, 0))))")
            }
            queues[index].limits = limits.isEmpty ? nil : limits.joined(separator: " ")
        }
    }

    /// Keeps the rows of `names` in that order, each updated by `update`.
    private mutating func setQueues(_ names: [String], _ update: (inout QueueRow) -> Void) {
        queues = names.map { name in
            var row = queues.first { $0.name == name } ?? QueueRow(name: name)
            update(&row)
            return row
        }
        if let selected, !names.contains(selected) { self.selected = nil }
    }

    // MARK: Selection

    /// Moves the selection through "all queues" and then each queue, by `step` rows.
    mutating func select(step: Int) {
        let choices: [String?] = [nil] + queues.map(\.name)
        let current = choices.firstIndex { $0 == selected } ?? 0
        selected = choices[max(0, min(choices.count - 1, current + step))]
    }

    func shows(_ queue: String) -> Bool { selected.map { $0 == queue } ?? true }

    /// Running jobs of the selection, the longest-running first (those running since before
    /// the view started, whose claim time is not yet known, lead).
    func runningJobs() -> [RunningJob] {
        running.values.filter { shows($0.queue) }.sorted {
            ($0.claimedAt ?? Int64.min, $0.id) < ($1.claimedAt ?? Int64.min, $1.id)
        }
    }
}

/// Completions and final failures per queue per second, from events, over the last ten
/// seconds the view has seen whole.
struct FinishRates {
    static let window: Int64 = 10_000
    /// Second (ms / 1000) → queue → (completed, failed).
    private var seconds: [Int64: [String: (completed: Int, failed: Int)]] = [:]
    /// From when every event has been seen: the start of the replay the view began with.
    var seenSince: Int64?

    mutating func count(_ event: JobEvent) {
        guard event.state == .completed || event.state == .failed, event.kind != .progress else { return }
        var counts = seconds[event.at / 1000, default: [:]][event.queue, default: (0, 0)]
        if event.state == .completed { counts.completed += 1 } else { counts.failed += 1 }
        seconds[event.at / 1000, default: [:]][event.queue] = counts
        if seconds.count > 64 { seconds = seconds.filter { $0.key >= event.at / 1000 - 32 } }
    }

    /// Per second, over the window (or what of it the view has seen); nil queue: all queues.
    func rate(_ queue: String?, now: Int64) -> (completed: Double, failed: Double) {
        let from = max(now - Self.window, seenSince ?? now - Self.window)
        let span = Double(max(now - from, 1000)) / 1000
        var completed = 0
        var failed = 0
        for (second, queues) in seconds where second * 1000 >= from && second * 1000 < now {
            for (name, counts) in queues where queue == nil || queue == name {
                completed += counts.completed
                failed += counts.failed
            }
        }
        return (Double(completed) / span, Double(failed) / span)
    }
}
