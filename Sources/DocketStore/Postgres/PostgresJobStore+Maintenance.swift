import DocketProtocol
import PostgresNIO

/// Time-driven work, schedules and retention on PostgreSQL.
///
/// Every daemon runs this work when it comes due; the first to take the maintenance lock in
/// its transaction does it, and the others skip it and look again shortly
/// (`maintenanceRetryMs`). The lock only saves duplicated effort: each change is fenced
/// (`SKIP LOCKED`, guarded updates, unique keys), so two daemons doing it at once would
/// still change each job once.
extension PostgresJobStore {
    /// How long a daemon that found the maintenance lock taken waits before it looks again.
    static let maintenanceRetryMs: Int64 = 200

    /// Takes the maintenance lock for the rest of this transaction, if no other daemon has it.
    func maintains() throws(StoreError) -> Bool {
        if let holdsMaintenance { return holdsMaintenance }
        let taken = try session.first("SELECT pg_try_advisory_xact_lock(\(PostgresSchema.Lock.maintenance.arguments))")?.bool(0) ?? false
        holdsMaintenance = taken
        return taken
    }

    /// $1 the time, $2 `scheduled`. The due jobs are found through docket_jobs_delayed, whose
    /// condition the state written in matches; the update then finds them by primary key, as
    /// the state it checks is bound: written in there too, the plan PostgreSQL keeps, made on
    /// a small table, read docket_jobs_delayed whole for every round of promotions.
    static let promoteStatement = """
        WITH due AS (SELECT id FROM docket_jobs WHERE state = 'scheduled' AND run_at <= $1
                     ORDER BY run_at LIMIT 1000 FOR NO KEY UPDATE SKIP LOCKED)
        UPDATE docket_jobs SET state = 'pending' WHERE id = ANY(ARRAY(SELECT id FROM due)) AND state = $2::text
        RETURNING queue
        """

    public func promoteDueJobs(_ context: ChangeContext) throws(StoreError) -> Set<String> {
        latestNow = context.now
        guard try maintains() else { return [] }
        // Not a change clients can see (the job was and stays `pending`), so the version stays.
        let rows = try session.run(Self.promoteStatement, [.int(context.now), .text("scheduled")])
        let queues = Set(rows.map { $0.makeRandomAccess().text(0) })
        wokenQueues.formUnion(queues)
        return queues
    }

    public func expireLeases(_ context: ChangeContext) throws(StoreError) -> [Job] {
        latestNow = context.now
        guard try maintains() else { return [] }
        let due = try session.run(
            """
            SELECT id, version, attempt < max_attempts FROM docket_jobs
            WHERE state = 'running' AND lease_expires_at <= $1 LIMIT 1000
            """, [.int(context.now)])
        var jobs: [Job] = []
        let error = RawJSON(["code": "lease_expired", "message": "the lease passed without progress or completion"])
        for row in due {
            let r = row.makeRandomAccess()
            let fence = JobVersion(job: r.int(0), version: r.int(1))
            let job: Job
            do {
                job = try guarded(
                    fence, operation: "expire", from: ["running"],
                    set: r.bool(2)
                        ? "state = 'pending', run_at = $3, lease_expires_at = NULL, last_error = $4"
                        : "state = 'failed', lease_expires_at = NULL, last_error = $4",
                    [.text(error.text)], ChangeContext(now: context.now), endsJob: !r.bool(2))
            } catch where error.isRefusal {
                continue  // its worker got there first (progress, complete) through another daemon
            }
            record(.leaseExpired, job, ChangeContext(now: context.now), data: nil)
            try settleDependents(of: job, context)
            jobs.append(job)
        }
        return jobs
    }

    public func nextDeadline() throws(StoreError) -> Int64? {
        let row = try session.first(
            """
            SELECT (SELECT min(run_at) FROM docket_jobs WHERE state = 'scheduled'),
                   (SELECT min(lease_expires_at) FROM docket_jobs WHERE state = 'running'),
                   (SELECT min(next_run_at) FROM docket_schedules WHERE NOT paused),
                   (SELECT min(attempt_deadline) FROM docket_jobs WHERE state = 'running' AND attempt_deadline IS NOT NULL)
            """)
        guard let row, let earliest = (0..<4).compactMap({ row.optionalInt($0) }).min() else {
            return nil
        }
        // Another daemon is doing the due work now; looking again at once would spin.
        if holdsMaintenance == false { return max(earliest, latestNow + Self.maintenanceRetryMs) }
        return earliest
    }

    // MARK: Retention

    public func pruneFinished(_ state: JobState, changedBefore cutoff: Int64, limit: Int) throws(StoreError) -> Int {
        guard try maintains() else { return 0 }
        // The state is spelled out, not bound, so the planner can match docket_jobs_finished.
        return try deleteJobs(
            "SELECT id FROM docket_jobs WHERE state = '\(state.rawValue)' AND updated_at <= $1 ORDER BY updated_at LIMIT $2",
            [.int(cutoff), .int(Int64(limit))])
    }

    public func oldestFinished(_ state: JobState) throws(StoreError) -> Int64? {
        try session.first("SELECT min(updated_at) FROM docket_jobs WHERE state = '\(state.rawValue)'")?.optionalInt(0)
    }

    public func purge(_ request: PurgeRequest) throws(StoreError) -> Int64 {
        let (select, values) = request.selection(from: "docket_jobs") { "$\($0)" }
        return Int64(
            try deleteJobs(
                select,
                values.map { value -> PostgresValue in
                    switch value {
                    case .int(let number): return .int(number)
                    case .text(let text): return .text(text)
                    case .null: return .optionalText(nil)
                    }
                }))
    }

    /// Deletes the jobs a query selects, with their events, in one statement; rows another
    /// transaction holds are left for the next round. Planned for its values each time: a
    /// plan made without them expects a large batch and reads every event to join it.
    private func deleteJobs(_ select: String, _ values: [PostgresValue]) throws(StoreError) -> Int {
        try session.run(
            """
            WITH doomed AS (\(select) FOR UPDATE SKIP LOCKED),
            history AS (DELETE FROM docket_events e USING doomed WHERE e.job = doomed.id)
            DELETE FROM docket_jobs j USING doomed WHERE j.id = doomed.id RETURNING j.id
            """, values, planAfresh: true
        ).count
    }

    /// Autovacuum gives space back on PostgreSQL.
    public func reclaimSpace(pages: Int) throws(StoreError) {}

    // MARK: Schedules

    public func putSchedule(_ request: SchedulePutRequest, _ context: ChangeContext) throws(StoreError) -> Schedule {
        latestNow = context.now
        let definition: [PostgresValue] = [
            .text(request.name), .text(request.cron.description), .text(request.queue), .text(request.payload.text),
            .int(request.priority), .int(request.maxAttempts), .bool(request.paused),
        ]
        if request.version == 0 {
            guard let first = request.cron.next(after: context.now) else {
                throw .invalidRequest("cron \"\(request.cron)\" has no slot after now, so the schedule would never fire")
            }
            let created = try schedules(
                """
                INSERT INTO docket_schedules (name, cron, queue, payload, priority, max_attempts, paused, version, next_run_at,
                                              created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)
                ON CONFLICT (name) DO NOTHING
                RETURNING \(Self.scheduleColumns)
                """, definition + [.int(first), .int(context.now)])
            if let schedule = created.first { return schedule }
            guard let current = try schedule(named: request.name) else {
                throw .conflict("schedule \(request.name) was deleted while its creation waited for it")
            }
            throw .scheduleStale(ScheduleReference(name: current.name, version: current.version), expected: 0)
        }
        guard let current = try schedule(named: request.name) else { throw .scheduleNotFound(request.name) }
        guard current.version == request.version else {
            throw .scheduleStale(ScheduleReference(name: current.name, version: current.version), expected: request.version)
        }
        // A new cron or a resumed schedule starts from now: slots missed while paused do not fire.
        let restarts = request.cron != current.cron || (current.paused && !request.paused)
        let next = restarts ? request.cron.next(after: context.now) ?? current.nextRunAt : current.nextRunAt
        let updated = try schedules(
            """
            UPDATE docket_schedules SET cron = $2, queue = $3, payload = $4, priority = $5, max_attempts = $6, paused = $7,
                                        version = version + 1, next_run_at = $8, updated_at = $9
            WHERE name = $1 AND version = $10
            RETURNING \(Self.scheduleColumns)
            """, definition + [.int(next), .int(context.now), .int(request.version)])
        if let schedule = updated.first { return schedule }
        // Another daemon changed or deleted it between the read and the update.
        guard let now = try schedule(named: request.name) else { throw .scheduleNotFound(request.name) }
        throw .scheduleStale(ScheduleReference(name: now.name, version: now.version), expected: request.version)
    }

    public func deleteSchedule(_ request: ScheduleDeleteRequest) throws(StoreError) {
        let deleted = try session.run(
            "DELETE FROM docket_schedules WHERE name = $1 AND version = $2 RETURNING name",
            [.text(request.name), .int(request.version)])
        guard deleted.isEmpty else { return }
        guard let current = try schedule(named: request.name) else { throw .scheduleNotFound(request.name) }
        throw .scheduleStale(ScheduleReference(name: current.name, version: current.version), expected: request.version)
    }

    public func fireDueSchedules(_ context: ChangeContext) throws(StoreError) -> Set<String> {
        latestNow = context.now
        guard try maintains() else { return [] }
        let due = try schedules(
            """
            SELECT \(Self.scheduleColumns) FROM docket_schedules WHERE NOT paused AND next_run_at <= $1
            ORDER BY next_run_at LIMIT 100 FOR UPDATE SKIP LOCKED
            """, [.int(context.now)])
        var queues = Set<String>()
        for schedule in due {
            let slot = schedule.nextRunAt
            let next = schedule.slot(afterFiringAt: context.now)
            // Advanced first, fenced by the slot: a daemon that fired this slot already has moved it.
            let advanced = try session.run(
                "UPDATE docket_schedules SET next_run_at = $3, last_run_at = $2 WHERE name = $1 AND next_run_at = $2 RETURNING name",
                [.text(schedule.name), .int(slot), .int(next)])
            guard !advanced.isEmpty else { continue }
            let (_, created) = try enqueue(schedule.dueJob, context)
            if created { queues.insert(schedule.queue) }
        }
        return queues
    }
}
