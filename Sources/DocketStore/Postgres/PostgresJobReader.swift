import DocketProtocol
import Logging
import PostgresNIO

/// Reads jobs, events and schedules over one PostgreSQL connection of its own.
public class PostgresJobReader: JobReader {
    let session: PostgresSession

    init(session: PostgresSession) {
        self.session = session
    }

    /// The columns every job query returns, in the order `PostgresJobReader.storedJob(row:)` reads them.
    static let jobColumns = """
        id, queue, state, version, priority, payload, attempt, max_attempts, run_at, created_at, updated_at, \
        lease_expires_at, worker, progress, result, last_error, unique_key, lease_ms, backoff_initial_ms, backoff_max_ms, \
        concurrency_key, timeout_ms, traceparent, tracestate, after_ids, waiting_for
        """
    static let jobColumnCount = jobColumns.split(separator: ",").count
    static let eventColumns = "seq, at, job, queue, type, version, state, data, peer"
    static let scheduleColumns = """
        name, cron, queue, payload, priority, max_attempts, paused, version, next_run_at, last_run_at, created_at, updated_at
        """

    /// The database clock minus this host's, in ms, measured over one round trip: deadlines
    /// stored by one daemon are read by others, so all of them must tell time alike.
    /// Of three samples the one with the shortest round trip wins, as in NTP: the first may
    /// include opening the connection, which would skew the midpoint by half of it.
    public func databaseTimeOffset(localNow: () -> Int64) throws(StoreError) -> Int64 {
        var best = (roundTrip: Int64.max, offset: Int64(0))
        for _ in 0..<3 {
            let before = localNow()
            let database = try session.first("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8")?.int(0) ?? before
            let after = localNow()
            if after - before < best.roundTrip {
                best = (after - before, database - (before + after) / 2)
            }
        }
        return best.offset
    }

    public func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try session.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            let result = try body()
            try session.run("COMMIT")
            return result
        } catch {
            _ = try? session.run("ROLLBACK")
            throw error
        }
    }

    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try storedJob(id)?.job
    }

    func storedJob(_ id: Int64) throws(StoreError) -> StoredJob? {
        try session.first("SELECT \(Self.jobColumns) FROM docket_jobs WHERE id = $1", [.int(id)])
            .map(Self.storedJob(row:))
    }

    static func storedJob(row r: PostgresRandomAccessRow) -> StoredJob {
        let storedState = r.text(2)
        return StoredJob(
            job: Job(
                id: r.int(0), queue: r.text(1), state: StoredJob.wireState(storedState), version: r.int(3), priority: r.int(4),
                payload: RawJSON(trusted: r.text(5)), attempt: r.int(6), maxAttempts: r.int(7), runAt: r.int(8),
                createdAt: r.int(9), updatedAt: r.int(10), leaseExpiresAt: r.optionalInt(11), worker: r.optionalText(12),
                progress: r.optionalText(13).map(RawJSON.init(trusted:)), result: r.optionalText(14).map(RawJSON.init(trusted:)),
                lastError: r.optionalText(15).map(RawJSON.init(trusted:)), uniqueKey: r.optionalText(16),
                concurrencyKey: r.optionalText(20), timeoutMs: r.optionalInt(21), traceparent: r.optionalText(22),
                tracestate: r.optionalText(23), after: r.ids(24), waitingFor: r.ids(25)),
            storedState: storedState, leaseMs: r.optionalInt(17), backoffInitialMs: r.int(18), backoffMaxMs: r.int(19))
    }

    public func events(ofJob id: Int64) throws(StoreError) -> [JobEvent] {
        try events("SELECT \(Self.eventColumns) FROM docket_events WHERE job = $1 ORDER BY seq", [.int(id)])
    }

    public func events(after seq: Int64, scope: WatchScope, limit: Int) throws(StoreError) -> [JobEvent] {
        switch scope {
        case .everything:
            return try events(
                "SELECT \(Self.eventColumns) FROM docket_events WHERE seq > $1 ORDER BY seq LIMIT $2", [.int(seq), .int(Int64(limit))])
        case .queue(let queue):
            return try events(
                "SELECT \(Self.eventColumns) FROM docket_events WHERE queue = $2 AND seq > $1 ORDER BY seq LIMIT $3",
                [.int(seq), .text(queue), .int(Int64(limit))])
        case .job(let job):
            return try events(
                "SELECT \(Self.eventColumns) FROM docket_events WHERE job = $2 AND seq > $1 ORDER BY seq LIMIT $3",
                [.int(seq), .int(job), .int(Int64(limit))])
        }
    }

    public func latestEventSeq() throws(StoreError) -> Int64 {
        try session.first("SELECT last_seq FROM docket_event_counter WHERE id = 1")?.int(0) ?? 0
    }

    private func events(_ sql: String, _ values: [PostgresValue]) throws(StoreError) -> [JobEvent] {
        try session.run(sql, values).map { row in
            let r = row.makeRandomAccess()
            return JobEvent(
                seq: r.int(0), at: r.int(1), job: r.int(2), queue: r.text(3), kind: JobEvent.Kind(rawValue: r.text(4)) ?? .progress,
                version: r.int(5), state: JobState(rawValue: r.text(6)) ?? .pending,
                data: r.optionalText(7).map(RawJSON.init(trusted:)), peer: r.optionalText(8))
        }
    }

    public func schedule(named name: String) throws(StoreError) -> Schedule? {
        try schedules("SELECT \(Self.scheduleColumns) FROM docket_schedules WHERE name = $1", [.text(name)]).first
    }

    public func schedules() throws(StoreError) -> [Schedule] {
        try schedules("SELECT \(Self.scheduleColumns) FROM docket_schedules ORDER BY name", [])
    }

    func schedules(_ sql: String, _ values: [PostgresValue]) throws(StoreError) -> [Schedule] {
        var schedules: [Schedule] = []
        for row in try session.run(sql, values) {
            let r = row.makeRandomAccess()
            let cron: CronExpression
            do {
                cron = try CronExpression(r.text(1))
            } catch {
                throw .storage("schedule \(r.text(0)) holds an invalid cron expression: \(error.description)")
            }
            schedules.append(
                Schedule(
                    name: r.text(0), cron: cron, queue: r.text(2), payload: RawJSON(trusted: r.text(3)), priority: r.int(4),
                    maxAttempts: r.int(5), paused: r.bool(6), version: r.int(7), nextRunAt: r.int(8), lastRunAt: r.optionalInt(9),
                    createdAt: r.int(10), updatedAt: r.int(11)))
        }
        return schedules
    }

    public func list(_ request: ListRequest) throws(StoreError) -> (jobs: [Job], next: Int64?) {
        var conditions = ["id > $1"]
        var values: [PostgresValue] = [.int(request.after ?? 0)]
        if let queue = request.queue {
            values.append(.text(queue))
            conditions.append("queue = $\(values.count)")
        }
        if let state = request.state {
            conditions.append(state == .pending ? "state IN ('pending', 'scheduled', 'blocked')" : "state = '\(state.rawValue)'")
        }
        values.append(.int(request.limit + 1))
        let sql = """
            SELECT \(Self.jobColumns) FROM docket_jobs WHERE \(conditions.joined(separator: " AND ")) \
            ORDER BY id LIMIT $\(values.count)
            """
        // Planned for its values: whether the queue's index or the id order is the better way
        // in depends on how many jobs the queue holds, which a plan made once cannot know.
        var jobs = try session.run(sql, values, planAfresh: true).map { Self.storedJob(row: $0.makeRandomAccess()).job }
        var next: Int64?
        if jobs.count > Int(request.limit) {
            jobs.removeLast()
            next = jobs.last?.id
        }
        return (jobs, next)
    }

    public func counts() throws(StoreError) -> [(queue: String, counts: [(state: JobState, count: Int64)])] {
        let rows = try session.run("SELECT queue, state, count(*)::int8 FROM docket_jobs GROUP BY queue, state ORDER BY queue COLLATE \"C\"")
        return StoredJob.groupCounts(rows.map { row in
            let r = row.makeRandomAccess()
            return (r.text(0), r.text(1), r.int(2))
        })
    }
}

extension PostgresJobStore {
    /// `docketd --check` on PostgreSQL: reads only. The schema must be Docket's and no newer
    /// than this build, and the event counter must not be behind the newest event (a seq
    /// handed out twice would break every watcher's order).
    public static func check(settings: PostgresSettings, logger: Logger) throws(StoreError) -> DatabaseMaintenance.CheckReport {
        let session = makeSession(settings, logger)
        defer { session.close() }
        let version = try PostgresSchema.version(session)
        guard version > 0 else { throw .incompatibleDatabase("\(settings) holds no Docket schema; start docketd on it to create one") }
        guard version <= PostgresSchema.latestVersion else {
            throw .incompatibleDatabase(
                "the database has schema version \(version), newer than this docketd knows (\(PostgresSchema.latestVersion))")
        }
        guard
            let row = try session.first(
                """
                SELECT (SELECT count(*) FROM docket_jobs)::int8, (SELECT count(*) FROM docket_events)::int8,
                       (SELECT count(*) FROM docket_schedules)::int8,
                       (SELECT last_seq FROM docket_event_counter WHERE id = 1),
                       (SELECT coalesce(max(seq), 0) FROM docket_events)
                """)
        else { throw .storage("the check's query returned nothing") }
        var integrity: [String] = []
        if row.optionalInt(3) == nil { integrity.append("the event counter row is missing") }
        if let counter = row.optionalInt(3), counter < row.int(4) {
            integrity.append("the event counter (\(counter)) is behind the newest event (\(row.int(4)))")
        }
        return DatabaseMaintenance.CheckReport(
            integrity: integrity.isEmpty ? ["ok"] : integrity, schemaVersion: version, jobs: row.int(0), events: row.int(1),
            schedules: row.int(2))
    }
}
