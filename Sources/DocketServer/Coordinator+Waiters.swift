import DocketProtocol
import DocketStore

/// The claims that wait: which queues can serve them, what holds them back, and the
/// time-driven work that makes jobs eligible for them.
extension Coordinator {
    /// The queues of the jobs that a claim could take right now.
    func eligibleQueues(_ jobs: [Job], _ now: Int64) -> Set<String> {
        Set(jobs.lazy.filter { $0.state == .pending && $0.runAt <= now }.map(\.queue))
    }

    /// The queues where jobs released by their dependencies became eligible; those released
    /// into the future bring the stored deadline forward.
    func takeReleased() -> Set<String> {
        let released = store.takeReleased()
        if let runAt = released.earliestRunAt { storedDeadline = min(storedDeadline ?? runAt, runAt) }
        return released.queues
    }

    /// The queues where these jobs, no longer running, may have made room under a limit.
    func freedQueues(_ jobs: [Job]) -> Set<String> {
        heldQueues.isEmpty ? [] : Set(jobs.lazy.map(\.queue).filter(heldQueues.contains))
    }

    /// Keeps track of which queues' settings hold claims back, and until when at least.
    func noteHolds(of outcome: ClaimOutcome, _ request: ClaimRequest, now: Int64) {
        guard outcome.job == nil else { return }
        heldQueues.subtract(request.queues)
        heldQueues.formUnion(outcome.heldBack)
        if let retryAfterMs = outcome.retryAfterMs { heldUntil = min(heldUntil ?? Int64.max, now + retryAfterMs) }
    }

    // MARK: Time-driven work and waiters

    /// Promotes due delayed jobs, fires due schedules and expires passed leases; returns the
    /// queues that gained eligible jobs.
    func dueWork(now: Int64) throws(StoreError) -> Set<String> {
        let context = ChangeContext(now: now)
        var queues = try store.promoteDueJobs(context)
        queues.formUnion(try store.fireDueSchedules(context))
        let expired = try store.expireLeases(context) + store.timeOutAttempts(jitter: jitter, context)
        queues.formUnion(eligibleQueues(expired, now).union(freedQueues(expired)).union(takeReleased()))
        try pruneExpired(now: now)
        return queues
    }

    /// Deletes finished jobs past their retention, a small batch at a time so a large backlog
    /// is worked off between request batches instead of stalling them.
    func pruneExpired(now: Int64) throws(StoreError) {
        var pruned = 0
        for (state, period) in retention.periods {
            pruned += try store.pruneFinished(state, changedBefore: now - period, limit: Retention.batchSize)
        }
        if pruned > 0 { try store.reclaimSpace(pages: Retention.reclaimPages) }
    }

    /// Offers newly eligible jobs to parked claims in arrival order, until the queues run dry.
    /// The earliest waiter for a stocked queue claims together with every waiter of the same
    /// queues (one store call), the jobs going to them in arrival order.
    func serveWaiters(in queues: Set<String>, now: Int64, into completions: inout [Completion]) throws(StoreError) {
        waiters.removeAll { !$0.command.origin.isActive }
        var stocked = queues
        while !stocked.isEmpty, let first = waiters.firstIndex(where: { $0.request.queues.contains(where: stocked.contains) }) {
            let wanted = waiters[first].request.queues
            let group = waiters.indices.filter { $0 >= first && waiters[$0].request.queues == wanted }
            let outcomes = try store.claim(together: group.map { claimItem(waiters[$0].command, waiters[$0].request, now) })
            var served: Set<Int> = []
            for (index, outcome) in zip(group, outcomes) where settleParked(index, outcome, now: now, into: &completions) {
                served.insert(index)
            }
            if served.count < group.count { stocked.subtract(wanted) }
            removeWaiters(at: served)
        }
    }

    /// Takes note of what a parked claim's attempt found, and answers it when that was a
    /// job; returns whether it was.
    func settleParked(_ index: Int, _ outcome: ClaimOutcome, now: Int64, into completions: inout [Completion]) -> Bool {
        noteHolds(of: outcome, waiters[index].request, now: now)
        guard let claimed = outcome.job else { return false }
        noteDeadlines(of: .claimed(claimed), now: now)
        completions.append(Completion(for: waiters[index].command, reply: .claimed(claimed)))
        return true
    }

    /// Drops the parked claims at these places in `waiters` (those just served).
    func removeWaiters(at served: Set<Int>) {
        guard !served.isEmpty else { return }
        waiters = waiters.indices.filter { !served.contains($0) }.map { waiters[$0] }
    }

    func timeOutWaiters(now: Int64) -> [Completion] {
        var expired: [Completion] = []
        waiters.removeAll { waiter in
            guard waiter.deadline <= now || !waiter.command.origin.isActive else { return false }
            expired.append(Completion(for: waiter.command, reply: .claimed(nil)))
            return true
        }
        return expired
    }
}
