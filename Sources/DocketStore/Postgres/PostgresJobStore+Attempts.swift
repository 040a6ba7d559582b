import DocketProtocol

/// Ending a running attempt other than by its worker's verdict: a snooze, a timeout.
extension PostgresJobStore {
    public func snooze(_ request: SnoozeRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            request.fence, operation: "snooze", from: ["running"],
            set: """
                state = $4, run_at = $3::int8 + $5::int8, attempt = attempt - 1, lease_expires_at = NULL,
                attempt_deadline = NULL
                """,
            [.text(request.delayMs > 0 ? "scheduled" : "pending"), .int(request.delayMs)], context)
        record(.snoozed, job, context, data: RawJSON(["delay_ms": .int(request.delayMs)]))
        return job
    }

    public func timeOutAttempts(jitter: () -> Double, _ context: ChangeContext) throws(StoreError) -> [Job] {
        latestNow = context.now
        guard try maintains() else { return [] }
        let due = try session.run(
            """
            SELECT id, version FROM docket_jobs
            WHERE state = 'running' AND attempt_deadline IS NOT NULL AND attempt_deadline <= $1 LIMIT 1000
            """, [.int(context.now)])
        var jobs: [Job] = []
        for row in due {
            let r = row.makeRandomAccess()
            let fence = JobVersion(job: r.int(0), version: r.int(1))
            do {
                jobs.append(
                    try fail(FailRequest(fence: fence, error: AttemptTimeout.error), jitter: jitter(), context, recordedAs: .timedOut))
            } catch where error.isRefusal {
                continue  // its worker finished it first, through another daemon
            }
        }
        return jobs
    }
}
