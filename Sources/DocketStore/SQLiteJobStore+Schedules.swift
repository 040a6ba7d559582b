import CSQLite
import DocketProtocol

/// Cron schedules: their definitions and the jobs their slots enqueue.
extension SQLiteJobStore {
    public func putSchedule(_ request: SchedulePutRequest, _ context: ChangeContext) throws(StoreError) -> Schedule {
        let current = try schedule(named: request.name)
        if request.version == 0 {
            if let current { throw .scheduleStale(ScheduleReference(name: current.name, version: current.version), expected: 0) }
            guard let first = request.cron.next(after: context.now) else {
                throw .invalidRequest("cron \"\(request.cron)\" has no slot after now, so the schedule would never fire")
            }
            let insert = try db.prepare(
                """
                INSERT INTO schedules (name, cron, queue, payload, priority, max_attempts, paused, version, next_run_at,
                                       created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?9)
                RETURNING \(Self.scheduleColumns)
                """)
            bindDefinition(insert, request)
            insert.bind(8, first)
            insert.bind(9, context.now)
            return try singleSchedule(insert)
        }
        guard let current else { throw .scheduleNotFound(request.name) }
        guard current.version == request.version else {
            throw .scheduleStale(ScheduleReference(name: current.name, version: current.version), expected: request.version)
        }
        // A new cron or a resumed schedule starts from now: slots missed while paused do not fire.
        let restarts = request.cron != current.cron || (current.paused && !request.paused)
        let next = restarts ? request.cron.next(after: context.now) ?? current.nextRunAt : current.nextRunAt
        let update = try db.prepare(
            """
            UPDATE schedules SET cron = ?2, queue = ?3, payload = ?4, priority = ?5, max_attempts = ?6, paused = ?7,
                                 version = version + 1, next_run_at = ?8, updated_at = ?9
            WHERE name = ?1 AND version = ?10
            RETURNING \(Self.scheduleColumns)
            """)
        bindDefinition(update, request)
        update.bind(8, next)
        update.bind(9, context.now)
        update.bind(10, request.version)
        return try singleSchedule(update)
    }

    private func bindDefinition(_ statement: Statement, _ request: SchedulePutRequest) {
        statement.bind(1, request.name)
        statement.bind(2, request.cron.description)
        statement.bind(3, request.queue)
        statement.bind(4, request.payload.text)
        statement.bind(5, request.priority)
        statement.bind(6, request.maxAttempts)
        statement.bind(7, request.paused ? 1 : 0)
    }

    private func singleSchedule(_ statement: Statement) throws(StoreError) -> Schedule {
        defer { statement.reset() }
        guard try statement.step() else { throw .storage("schedule write returned no row") }
        return try Self.schedule(row: statement)
    }

    public func deleteSchedule(_ request: ScheduleDeleteRequest) throws(StoreError) {
        let delete = try db.prepare("DELETE FROM schedules WHERE name = ?1 AND version = ?2")
        delete.bind(1, request.name)
        delete.bind(2, request.version)
        try delete.run()
        guard db.changes == 0 else { return }
        guard let current = try schedule(named: request.name) else { throw .scheduleNotFound(request.name) }
        throw .scheduleStale(ScheduleReference(name: current.name, version: current.version), expected: request.version)
    }

    public func fireDueSchedules(_ context: ChangeContext) throws(StoreError) -> Set<String> {
        let due = try schedules(
            "SELECT \(Self.scheduleColumns) FROM schedules WHERE paused = 0 AND next_run_at <= ?1 ORDER BY next_run_at LIMIT 100",
            [.int(context.now)])
        var queues = Set<String>()
        for schedule in due {
            let slot = schedule.nextRunAt
            let (_, created) = try enqueue(schedule.dueJob, context)
            if created { queues.insert(schedule.queue) }
            let next = schedule.slot(afterFiringAt: context.now)
            let advance = try db.prepare(
                "UPDATE schedules SET next_run_at = ?3, last_run_at = ?2 WHERE name = ?1 AND next_run_at = ?2")
            advance.bind(1, schedule.name)
            advance.bind(2, slot)
            advance.bind(3, next)
            try advance.run()
        }
        return queues
    }
}
