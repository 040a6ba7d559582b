import DocketProtocol

/// Ending a running attempt other than by its worker's verdict: a snooze, a timeout.
extension SQLiteJobStore {
    public func snooze(_ request: SnoozeRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            request.fence, operation: "snooze", from: ["running"],
            set: """
                state = ?4, run_at = ?3 + ?5, attempt = attempt - 1, lease_expires_at = NULL,
                attempt_deadline = NULL
                """,
            context: context
        ) { statement in
            statement.bind(4, request.delayMs > 0 ? "scheduled" : "pending")
            statement.bind(5, request.delayMs)
        }
        try record(.snoozed, job, context, data: RawJSON(["delay_ms": .int(request.delayMs)]))
        return job
    }

    public func timeOutAttempts(jitter: () -> Double, _ context: ChangeContext) throws(StoreError) -> [Job] {
        let due = try db.prepare(
            """
            SELECT id, version FROM jobs
            WHERE state = 'running' AND attempt_deadline IS NOT NULL AND attempt_deadline <= ?1 LIMIT 1000
            """)
        due.bind(1, context.now)
        var fences: [JobVersion] = []
        while try due.step() { fences.append(JobVersion(job: due.int(0), version: due.int(1))) }
        due.reset()
        return try fences.map { fence throws(StoreError) in
            try fail(FailRequest(fence: fence, error: AttemptTimeout.error), jitter: jitter(), context, recordedAs: .timedOut)
        }
    }
}

/// What a timed-out attempt fails with.
enum AttemptTimeout {
    static let error = RawJSON(["code": "timeout", "message": "the attempt ran past its timeout_ms"])
}
