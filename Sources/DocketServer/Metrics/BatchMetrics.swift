import CoreMetrics
import Dispatch
import DocketProtocol

/// The writer's side of the metrics: what each batch committed, counted from the batch's own
/// events once its transaction has committed, so the counters are exact (a rolled-back batch
/// counts nothing, a retried one counts once) and hold only this daemon's work.
///
/// Confined to the writer thread, like the coordinator: no locks of its own; the counters
/// and histograms it bumps are atomic or locked inside swift-prometheus.
final class BatchMetrics {
    private let factory: CatalogueMetricsFactory
    private let commit: CoreMetrics.Timer
    private var queues: [String: QueueInstruments] = [:]
    /// When each job running on a claim made here was claimed (ms), for the run time.
    private var claimedAt: [Int64: Int64] = [:]
    /// When each job whose dependencies were met here became eligible (ms), for the wait: its
    /// `run_at` is still when it was enqueued, and the time it was blocked is not waiting.
    private var releasedAt: [Int64: Int64] = [:]

    /// Jobs claimed here but finished through another daemon of a shared store never come
    /// back to the maps (nor released jobs claimed there); past this many entries the older
    /// half of a map is dropped (those times go unobserved) rather than letting it grow
    /// without end.
    static let maxTrackedJobs = 200_000

    init(_ metrics: DocketMetrics) {
        factory = metrics.factory
        commit = CoreMetrics.Timer(label: MetricCatalogue.commit.name, factory: factory)
    }

    /// Runs one batch's transaction (the coordinator's `process`), times it and counts what it
    /// committed.
    func measure(_ batch: () -> Coordinator.Outcome) -> Coordinator.Outcome {
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = batch()
        commit.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- started))
        if outcome.failure == nil { record(outcome) }
        return outcome
    }

    private func record(_ outcome: Coordinator.Outcome) {
        // Events first: a job released in this batch may be claimed in it too.
        for event in outcome.events { record(event) }
        for completion in outcome.completions {
            guard case .claimed(let job?) = completion.reply else { continue }
            // A claim sets updated_at to its own time; the job became eligible at run_at, or
            // when its last dependency completed, whichever came later.
            let eligibleAt = max(job.runAt, releasedAt.removeValue(forKey: job.id) ?? job.runAt)
            instruments(job.queue).wait.recordMilliseconds(max(0, job.updatedAt - eligibleAt))
        }
    }

    private func record(_ event: JobEvent) {
        let queue = instruments(event.queue)
        switch event.kind {
        case .enqueued: queue.enqueued.increment()
        case .claimed: queue.claimed.increment()
        case .leaseExpired: queue.leaseExpired.increment()
        default: break
        }
        switch event.state {
        case .running:
            if event.kind == .claimed { Self.track(event.job, at: event.at, in: &claimedAt) }
        case .pending:
            claimedAt[event.job] = nil
            if event.kind == .dependenciesMet { Self.track(event.job, at: event.at, in: &releasedAt) }
        case .completed, .failed, .cancelled:
            if event.state == .completed { queue.completed.increment() }
            if event.state == .failed { queue.failed.increment() }
            if let claimed = claimedAt.removeValue(forKey: event.job) { queue.run.recordMilliseconds(max(0, event.at - claimed)) }
            releasedAt[event.job] = nil
        }
    }

    private static func track(_ job: Int64, at time: Int64, in times: inout [Int64: Int64]) {
        if times.count >= maxTrackedJobs {
            let cutoff = times.values.sorted()[times.count / 2]
            times = times.filter { $0.value > cutoff }
        }
        times[job] = time
    }

    private func instruments(_ queue: String) -> QueueInstruments {
        if let known = queues[queue] { return known }
        let made = QueueInstruments(queue: queue, factory: factory)
        queues[queue] = made
        return made
    }
}
