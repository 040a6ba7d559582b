import CSQLite
import DocketProtocol

/// The time-driven work (delayed jobs coming due, leases passing) and retention.
extension SQLiteJobStore {
    public func promoteDueJobs(_ context: ChangeContext) throws(StoreError) -> Set<String> {
        // Not a change clients can see (the job was and stays `pending`), so the version stays.
        // Row by row: one UPDATE over the jobs_delayed range it changes would first collect
        // the rows in a temporary B-tree, and RETURNING would too.
        let due = try db.prepare("SELECT id, queue FROM jobs WHERE state = 'scheduled' AND run_at <= ?1")
        due.bind(1, context.now)
        var promoted: [(id: Int64, queue: String)] = []
        while try due.step() { promoted.append((due.int(0), due.text(1))) }
        due.reset()
        let promote = try db.prepare("UPDATE jobs SET state = 'pending' WHERE id = ?1 AND state = 'scheduled'")
        for job in promoted {
            promote.bind(1, job.id)
            try promote.run()
        }
        return Set(promoted.map(\.queue))
    }

    public func expireLeases(_ context: ChangeContext) throws(StoreError) -> [Job] {
        let due = try db.prepare(
            "SELECT id, version, attempt < max_attempts FROM jobs WHERE state = 'running' AND lease_expires_at <= ?1 LIMIT 1000")
        due.bind(1, context.now)
        var expiring: [(fence: JobVersion, retries: Bool)] = []
        while try due.step() {
            expiring.append((JobVersion(job: due.int(0), version: due.int(1)), due.int(2) != 0))
        }
        due.reset()
        var jobs: [Job] = []
        for (fence, retries) in expiring {
            let error = RawJSON(["code": "lease_expired", "message": "the lease passed without progress or completion"])
            let job = try guarded(
                fence, operation: "expire", from: ["running"],
                set: retries
                    ? "state = 'pending', run_at = ?3, lease_expires_at = NULL, last_error = ?4"
                    : "state = 'failed', lease_expires_at = NULL, last_error = ?4",
                context: ChangeContext(now: context.now)
            ) { statement in
                statement.bind(4, error.text)
            }
            try record(.leaseExpired, job, ChangeContext(now: context.now), data: nil)
            try settleDependents(of: job, context)
            jobs.append(job)
        }
        return jobs
    }

    public func nextDeadline() throws(StoreError) -> Int64? {
        let delayed = try db.scalar("SELECT min(run_at) FROM jobs WHERE state = 'scheduled'")
        let lease = try db.scalar("SELECT min(lease_expires_at) FROM jobs WHERE state = 'running'")
        let attempt = try db.scalar(
            "SELECT min(attempt_deadline) FROM jobs WHERE state = 'running' AND attempt_deadline IS NOT NULL")
        let slot = try db.scalar("SELECT min(next_run_at) FROM schedules WHERE paused = 0")
        return [delayed, lease, attempt, slot].compactMap { $0 }.min()
    }

    // MARK: Retention

    public func pruneFinished(_ state: JobState, changedBefore cutoff: Int64, limit: Int) throws(StoreError) -> Int {
        // The state is spelled out, not bound, so SQLite can match the partial index jobs_finished.
        try deleteJobs(
            "SELECT id FROM jobs WHERE state = '\(state.rawValue)' AND updated_at <= ?1 ORDER BY updated_at LIMIT ?2",
            [.int(cutoff), .int(Int64(limit))])
    }

    public func oldestFinished(_ state: JobState) throws(StoreError) -> Int64? {
        try db.scalar("SELECT min(updated_at) FROM jobs WHERE state = '\(state.rawValue)'")
    }

    public func purge(_ request: PurgeRequest) throws(StoreError) -> Int64 {
        let (select, values) = request.selection(from: "jobs") { "?\($0)" }
        return Int64(try deleteJobs(select, values))
    }

    /// Deletes the jobs a query selects, and their events.
    private func deleteJobs(_ select: String, _ values: [SQLValue]) throws(StoreError) -> Int {
        let ids = try db.prepare(select)
        ids.bind(values)
        var doomed: [Int64] = []
        while try ids.step() { doomed.append(ids.int(0)) }
        ids.reset()
        let deleteEvents = try db.prepare("DELETE FROM events WHERE job = ?1")
        let deleteJob = try db.prepare("DELETE FROM jobs WHERE id = ?1")
        for id in doomed {
            deleteEvents.bind(1, id)
            try deleteEvents.run()
            deleteJob.bind(1, id)
            try deleteJob.run()
        }
        return doomed.count
    }

    public func reclaimSpace(pages: Int) throws(StoreError) {
        try db.execute("PRAGMA incremental_vacuum(\(pages))")
    }
}
