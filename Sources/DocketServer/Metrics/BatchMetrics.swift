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

    /// Jobs claimed here but finished through another daemon of a shared store never come
    /// back to the map; past this many entries the older half of it is dropped (those times
    /// go unobserved) rather than letting it grow without end.
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
        for event in outcome.events { record(event) }
        for completion in outcome.completions {
            guard case .claimed(let job?) = completion.reply else { continue }
            // A claim sets updated_at to its own time, and run_at is when the job became
            // eligible (a release moves it to the release's time).
            instruments(job.queue).wait.recordMilliseconds(max(0, job.updatedAt - job.runAt))
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
            if event.kind == .claimed { trackClaim(of: event.job, at: event.at) }
        case .pending:
            claimedAt[event.job] = nil
        case .completed, .failed, .cancelled:
            if event.state == .completed { queue.completed.increment() }
            if event.state == .failed { queue.failed.increment() }
            if let claimed = claimedAt.removeValue(forKey: event.job) { queue.run.recordMilliseconds(max(0, event.at - claimed)) }
        }
    }

    private func trackClaim(of job: Int64, at time: Int64) {
        if claimedAt.count >= Self.maxTrackedJobs {
            let cutoff = claimedAt.values.sorted()[claimedAt.count / 2]
            claimedAt = claimedAt.filter { $0.value > cutoff }
        }
        claimedAt[job] = time
    }

    private func instruments(_ queue: String) -> QueueInstruments {
        if let known = queues[queue] { return known }
        let made = QueueInstruments(queue: queue, factory: factory)
        queues[queue] = made
        return made
    }
}
