import DocketProtocol

/// Reads jobs and events from one SQLite connection. In WAL mode a reader sees the last
/// committed state and never waits for the writer.
public class SQLiteJobReader: JobReader {
    let db: SQLiteConnection

    init(connection: SQLiteConnection) {
        db = connection
    }

    /// The columns every job query returns, in the order `StoredJob.init(row:)` reads them.
    static let jobColumns = """
        id, queue, state, version, priority, payload, attempt, max_attempts, run_at, created_at, updated_at, \
        lease_expires_at, worker, progress, result, last_error, unique_key, lease_ms, backoff_initial_ms, backoff_max_ms, \
        concurrency_key, timeout_ms, traceparent, tracestate, after_ids, waiting_for
        """

    public func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try db.prepare("BEGIN").run()
        do {
            let result = try body()
            try db.prepare("COMMIT").run()
            return result
        } catch {
            try? db.prepare("ROLLBACK").run()
            throw error
        }
    }

    public func job(_ id: Int64) throws(StoreError) -> Job? {
        try storedJob(id)?.job
    }

    func storedJob(_ id: Int64) throws(StoreError) -> StoredJob? {
        let statement = try db.prepare("SELECT \(Self.jobColumns) FROM jobs WHERE id = ?1")
        statement.bind(1, id)
        defer { statement.reset() }
        return try statement.step() ? StoredJob(row: statement) : nil
    }

    static let eventColumns = "seq, at, job, queue, type, version, state, data, peer"

    public func events(ofJob id: Int64) throws(StoreError) -> [JobEvent] {
        try events("SELECT \(Self.eventColumns) FROM events WHERE job = ?1 ORDER BY seq", [.int(id)])
    }

    public func events(after seq: Int64, scope: WatchScope, limit: Int) throws(StoreError) -> [JobEvent] {
        switch scope {
        case .everything:
            return try events(
                "SELECT \(Self.eventColumns) FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2", [.int(seq), .int(Int64(limit))])
        case .queue(let queue):
            return try events(
                "SELECT \(Self.eventColumns) FROM events WHERE seq > ?1 AND queue = ?2 ORDER BY seq LIMIT ?3",
                [.int(seq), .text(queue), .int(Int64(limit))])
        case .job(let job):
            return try events(
                "SELECT \(Self.eventColumns) FROM events WHERE job = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                [.int(job), .int(seq), .int(Int64(limit))])
        }
    }

    public func latestEventSeq() throws(StoreError) -> Int64 {
        try db.scalar("SELECT max(seq) FROM events") ?? 0
    }

    private func events(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> [JobEvent] {
        let statement = try db.prepare(sql)
        statement.bind(values)
        defer { statement.reset() }
        var events: [JobEvent] = []
        while try statement.step() {
            events.append(
                JobEvent(
                    seq: statement.int(0), at: statement.int(1), job: statement.int(2), queue: statement.text(3),
                    kind: JobEvent.Kind(rawValue: statement.text(4)) ?? .progress, version: statement.int(5),
                    state: JobState(rawValue: statement.text(6)) ?? .pending,
                    data: statement.optionalText(7).map(RawJSON.init(trusted:)), peer: statement.optionalText(8)))
        }
        return events
    }

    static let scheduleColumns = """
        name, cron, queue, payload, priority, max_attempts, paused, version, next_run_at, last_run_at, created_at, updated_at
        """

    public func schedule(named name: String) throws(StoreError) -> Schedule? {
        try schedules("SELECT \(Self.scheduleColumns) FROM schedules WHERE name = ?1", [.text(name)]).first
    }

    public func schedules() throws(StoreError) -> [Schedule] {
        try schedules("SELECT \(Self.scheduleColumns) FROM schedules ORDER BY name", [])
    }

    func schedules(_ sql: String, _ values: [SQLValue]) throws(StoreError) -> [Schedule] {
        let statement = try db.prepare(sql)
        statement.bind(values)
        defer { statement.reset() }
        var schedules: [Schedule] = []
        while try statement.step() { schedules.append(try Self.schedule(row: statement)) }
        return schedules
    }

    static func schedule(row s: Statement) throws(StoreError) -> Schedule {
        let cron: CronExpression
        do {
            cron = try CronExpression(s.text(1))
        } catch {
            throw .storage("schedule \(s.text(0)) holds an invalid cron expression: \(error.description)")
        }
        return Schedule(
            name: s.text(0), cron: cron, queue: s.text(2), payload: RawJSON(trusted: s.text(3)), priority: s.int(4),
            maxAttempts: s.int(5), paused: s.int(6) != 0, version: s.int(7), nextRunAt: s.int(8), lastRunAt: s.optionalInt(9),
            createdAt: s.int(10), updatedAt: s.int(11))
    }

    public func list(_ request: ListRequest) throws(StoreError) -> (jobs: [Job], next: Int64?) {
        var conditions = ["id > ?1"]
        var values: [SQLValue] = [.int(request.after ?? 0)]
        if let queue = request.queue {
            values.append(.text(queue))
            conditions.append("queue = ?\(values.count)")
        }
        if let state = request.state {
            conditions.append(
                state == .pending ? "state IN ('pending', 'scheduled', 'blocked')" : "state = '\(state.rawValue)'")
        }
        values.append(.int(request.limit + 1))
        let sql = """
            SELECT \(Self.jobColumns) FROM jobs WHERE \(conditions.joined(separator: " AND ")) \
            ORDER BY id LIMIT ?\(values.count)
            """
        let statement = try db.prepare(sql)
        statement.bind(values)
        defer { statement.reset() }
        var jobs: [Job] = []
        while try statement.step() {
            jobs.append(StoredJob(row: statement).job)
        }
        var next: Int64?
        if jobs.count > Int(request.limit) {
            jobs.removeLast()
            next = jobs.last?.id
        }
        return (jobs, next)
    }

    public func counts() throws(StoreError) -> [(queue: String, counts: [(state: JobState, count: Int64)])] {
        let statement = try db.prepare("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state ORDER BY queue")
        defer { statement.reset() }
        var rows: [(queue: String, storedState: String, count: Int64)] = []
        while try statement.step() { rows.append((statement.text(0), statement.text(1), statement.int(2))) }
        return StoredJob.groupCounts(rows)
    }
}

/// A job row with the columns the wire does not show but transitions need.
struct StoredJob {
    var job: Job
    /// The state column as stored: `scheduled` is a `pending` job not yet due.
    var storedState: String
    var leaseMs: Int64?
    var backoffInitialMs: Int64
    var backoffMaxMs: Int64

    init(job: Job, storedState: String, leaseMs: Int64?, backoffInitialMs: Int64, backoffMaxMs: Int64) {
        self.job = job
        self.storedState = storedState
        self.leaseMs = leaseMs
        self.backoffInitialMs = backoffInitialMs
        self.backoffMaxMs = backoffMaxMs
    }

    init(row s: Statement) {
        storedState = s.text(2)
        job = Job(
            id: s.int(0), queue: s.text(1), state: Self.wireState(storedState), version: s.int(3), priority: s.int(4),
            payload: RawJSON(trusted: s.text(5)), attempt: s.int(6), maxAttempts: s.int(7), runAt: s.int(8),
            createdAt: s.int(9), updatedAt: s.int(10), leaseExpiresAt: s.optionalInt(11), worker: s.optionalText(12),
            progress: s.optionalText(13).map(RawJSON.init(trusted:)), result: s.optionalText(14).map(RawJSON.init(trusted:)),
            lastError: s.optionalText(15).map(RawJSON.init(trusted:)), uniqueKey: s.optionalText(16),
            concurrencyKey: s.optionalText(20), timeoutMs: s.optionalInt(21), traceparent: s.optionalText(22),
            tracestate: s.optionalText(23), after: Self.ids(s.optionalText(24)), waitingFor: Self.ids(s.optionalText(25)))
        leaseMs = s.optionalInt(17)
        backoffInitialMs = s.int(18)
        backoffMaxMs = s.int(19)
    }

    /// What a `fail` of this job does: retry (while attempts remain and the request allows)
    /// after `delay` ms, or fail it for good.
    func failure(_ request: FailRequest, jitter: Double) -> (retries: Bool, delay: Int64) {
        let delay =
            request.retryInMs
            ?? Backoff.delay(attempt: job.attempt, initial: backoffInitialMs, maximum: backoffMaxMs, jitter: jitter)
        return (request.retry && job.attempt < job.maxAttempts, delay)
    }

    /// `scheduled` (not due yet) and `blocked` (waiting for dependencies) are `pending`.
    static func wireState(_ stored: String) -> JobState {
        stored == "scheduled" || stored == "blocked" ? .pending : JobState(rawValue: stored) ?? .failed
    }

    /// Job ids kept as a JSON array (NULL: none).
    static func ids(_ text: String?) -> [Int64] {
        guard let text, case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return [] }
        return items.compactMap(\.int64)
    }

    static func idsText(_ ids: [Int64]) -> String? {
        ids.isEmpty ? nil : "[" + ids.map(String.init).joined(separator: ",") + "]"
    }

    /// Counts by queue and stored state, grouped by queue in the given order, with the stored
    /// states folded into the wire's (`scheduled` counts as `pending`) in the wire's order.
    static func groupCounts(_ rows: [(queue: String, storedState: String, count: Int64)])
        -> [(queue: String, counts: [(state: JobState, count: Int64)])]
    {
        var result: [(queue: String, counts: [(state: JobState, count: Int64)])] = []
        for (queue, storedState, count) in rows {
            let state = wireState(storedState)
            if result.last?.queue != queue { result.append((queue, [])) }
            if let index = result[result.count - 1].counts.firstIndex(where: { $0.state == state }) {
                result[result.count - 1].counts[index].count += count
            } else {
                result[result.count - 1].counts.append((state, count))
            }
        }
        for index in result.indices {
            result[index].counts.sort { JobState.allCases.firstIndex(of: $0.state)! < JobState.allCases.firstIndex(of: $1.state)! }
        }
        return result
    }
}
