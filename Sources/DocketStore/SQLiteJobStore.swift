import CSQLite
import DocketProtocol

/// The SQLite backend: one write connection, owned by the writer thread.
public final class SQLiteJobStore: SQLiteJobReader, JobStore {
    /// How hard a commit is pushed to the disk.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// fsync on every commit: nothing acknowledged is lost, even on power loss.
        case full
        /// fsync at checkpoints only: a process crash loses nothing, a power loss may lose the newest commits.
        case normal
    }

    public let path: String
    /// Events stored by the open transaction, handed out by `commit`.
    private var transactionEvents: [JobEvent] = []
    /// Called after each commit that wrote to the WAL, with the WAL's size in pages.
    private var walCommitObservers: [(Int32) -> Void] = []
    /// The settings of the queues that have any, kept here because this writer is the only
    /// one that changes them; read again after a rollback (nil: not read yet).
    var claimSettings: [String: QueueSettings]?
    var released = ReleasedJobs()

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, synchronous: Synchronous = .full) throws(StoreError) {
        self.path = path
        let connection = try SQLiteConnection(path: path, gatheringWALWrites: true)
        super.init(connection: connection)
        try Self.checkIsDocketDatabase(connection, path: path)
        // SQLite quietly opens a write-protected file read-only; every change would then fail.
        guard sqlite3_db_readonly(connection.handle, "main") == 0 else {
            throw .storage("\(path) is read-only for this user; docketd needs to write it (check its owner and mode)")
        }
        if try schemaVersion() == 0 {
            // Only a file without tables can take this; it lets pruning give space back.
            try connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
        }
        try connection.execute("PRAGMA journal_mode = WAL")
        try migrate()
        // 16 MiB of page cache for the writer (SQLite's default is 2 MiB): with a million
        // jobs the indexes it walks no longer fit in 2 MiB and claims slowed by a third.
        try connection.execute("PRAGMA synchronous = \(synchronous.rawValue.uppercased()); PRAGMA cache_size = -16384")
        // Under sustained load the writer outruns the checkpoints and the WAL grows (hundreds
        // of MiB in a minute of saturation); once a checkpoint catches up and the WAL starts
        // over, this gives the space back instead of keeping the file at its peak for good.
        try connection.execute("PRAGMA journal_size_limit = \(Self.walSizeLimit)")
    }

    /// Refuses a file that is not SQLite, is another application's database, or was written
    /// by a newer Docket, before anything is written to it.
    static func checkIsDocketDatabase(_ db: SQLiteConnection, path: String) throws(StoreError) {
        let applicationID: Int64
        let tables: Int64
        let version: Int64
        do {
            applicationID = try db.scalar("PRAGMA application_id") ?? 0
            tables = try db.scalar("SELECT count(*) FROM sqlite_master") ?? 0
            version = try db.scalar("PRAGMA user_version") ?? 0
        } catch {
            if db.lastErrorCode == SQLITE_NOTADB {
                throw .incompatibleDatabase("\(path) is not a SQLite database; point --db at a Docket database or a new path")
            }
            throw error
        }
        if applicationID == 0 && tables == 0 { return }
        guard applicationID == Schema.applicationID else {
            throw .incompatibleDatabase(
                "\(path) is a SQLite database of another application (application_id \(applicationID)); "
                    + "point --db at a Docket database or a new path")
        }
        guard version <= Schema.latestVersion else {
            throw .incompatibleDatabase(
                "\(path) has schema version \(version), newer than this docketd knows (\(Schema.latestVersion)); "
                    + "run a newer docketd")
        }
    }

    /// Calls `observer` on the writer's thread after every commit that wrote to the WAL (a
    /// commit that changed nothing writes nothing), with the WAL's size in pages then.
    public func onWALCommit(_ observer: @escaping (Int32) -> Void) {
        if walCommitObservers.isEmpty {
            sqlite3_wal_hook(
                db.handle,
                { context, _, _, pages in
                    for observer in Unmanaged<SQLiteJobStore>.fromOpaque(context!).takeUnretainedValue().walCommitObservers {
                        observer(pages)
                    }
                    return SQLITE_OK
                }, Unmanaged.passUnretained(self).toOpaque())
        }
        walCommitObservers.append(observer)
    }

    /// Bytes the WAL file is cut back to when it starts over.
    public static let walSizeLimit = 64 << 20

    /// The schema version this build creates and migrates to.
    public static var latestSchemaVersion: Int64 { Schema.latestVersion }

    /// The schema version recorded in the database.
    public func schemaVersion() throws(StoreError) -> Int64 {
        try db.scalar("PRAGMA user_version") ?? 0
    }

    /// Applies the migrations the database has not had, each in its own transaction.
    func migrate() throws(StoreError) {
        var version = try schemaVersion()
        while version < Schema.latestVersion {
            let next = version + 1
            try db.execute("BEGIN IMMEDIATE")
            do {
                try db.execute(Schema.migrations[Int(version)])
                try db.execute("PRAGMA user_version = \(next); PRAGMA application_id = \(Schema.applicationID)")
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw .storage("migration \(next) failed: \(error)")
            }
            version = next
        }
    }

    public func makeReader() throws(StoreError) -> any JobReader {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA query_only = 1")
        try connection.openFilesNow()
        return SQLiteJobReader(connection: connection)
    }

    /// The query plan SQLite chooses for `sql`, one detail line per step (for tests of indexes).
    public func queryPlan(_ sql: String) throws(StoreError) -> [String] {
        let statement = try db.prepare("EXPLAIN QUERY PLAN " + sql)
        defer { statement.reset() }
        var lines: [String] = []
        while try statement.step() { lines.append(statement.text(3)) }
        return lines
    }

    /// The statements prepared so far that build a temporary B-tree each time they run
    /// (`OpenEphemeral`: an IN list, a sort, a DISTINCT), for tests that keep them off the
    /// paths of changes.
    public func statementsBuildingTemporaryTables() throws(StoreError) -> [String] {
        var building: [String] = []
        for sql in db.preparedSQL where !sql.hasPrefix("EXPLAIN ") {
            let program = try db.prepare("EXPLAIN " + sql)
            defer { program.reset() }
            while try program.step() {
                if program.text(1) == "OpenEphemeral" {
                    building.append(sql)
                    break
                }
            }
        }
        return building
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound file.
    public func integrityCheck() throws(StoreError) -> [String] {
        try db.integrityCheck()
    }

    // MARK: Transactions

    // Transaction control goes through cached statements like everything else: parsing
    // "BEGIN IMMEDIATE" for every batch showed up in profiles.

    public func begin() throws(StoreError) {
        transactionEvents.removeAll(keepingCapacity: true)
        released = ReleasedJobs()
        try db.prepare("BEGIN IMMEDIATE").run()
    }

    @discardableResult
    public func commit() throws(StoreError) -> [JobEvent] {
        do throws(StoreError) {
            try db.prepare("COMMIT").run()
        } catch {
            // The transaction's pages, its commit mark among them, were in the WAL before the
            // flush failed; whether they reached the disk decides whether they come back.
            guard db.lastExtendedErrorCode == DOCKET_SQLITE_IOERR_FSYNC, case .storage(let message) = error else { throw error }
            throw .commitUnsettled(message)
        }
        defer { transactionEvents.removeAll(keepingCapacity: true) }
        return transactionEvents
    }

    public func rollback() {
        transactionEvents.removeAll(keepingCapacity: true)
        claimSettings = nil
        try? db.prepare("ROLLBACK").run()
    }

    // MARK: Transitions

    public func enqueue(_ request: EnqueueRequest, _ context: ChangeContext) throws(StoreError) -> (job: Job, created: Bool) {
        try enqueue(request, dependencies: try dependencyStates([request]), context)
    }

    /// `enqueue`, with the states of the jobs it names in `after` already read.
    func enqueue(_ request: EnqueueRequest, dependencies known: [Int64: JobState], _ context: ChangeContext) throws(StoreError)
        -> (job: Job, created: Bool)
    {
        var states = known
        try addStates(of: request.after, to: &states)
        // Looked up before inserting (the writer is alone, so nothing can slip in between):
        // an insert that hit the unique index would still use up an id.
        if let key = request.uniqueKey {
            let existing = try db.prepare("SELECT \(Self.jobColumns) FROM jobs WHERE queue = ?1 AND unique_key = ?2")
            existing.bind(1, request.queue)
            existing.bind(2, key)
            if let job = try singleRow(existing) { return (job.job, false) }
        }
        let waiting = waitingList(request.after, states)
        let runAt = request.runAt.resolve(now: context.now)
        let insert = try db.prepare(
            """
            INSERT INTO jobs (queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms,
                              backoff_max_ms, run_at, created_at, updated_at, unique_key, concurrency_key, timeout_ms,
                              traceparent, tracestate, after_ids, waiting_for)
            VALUES (?1, ?2, 1, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
            """)
        insert.bind(1, request.queue)
        insert.bind(2, !waiting.isEmpty ? "blocked" : runAt > context.now ? "scheduled" : "pending")
        insert.bind(3, request.priority)
        insert.bind(4, request.payload.text)
        insert.bind(5, request.maxAttempts)
        insert.bind(6, request.backoffInitialMs)
        insert.bind(7, request.backoffMaxMs)
        insert.bind(8, runAt)
        insert.bind(9, context.now)
        insert.bind(10, request.uniqueKey)
        insert.bind(11, request.concurrencyKey)
        insert.bind(12, request.timeoutMs)
        insert.bind(13, request.traceparent)
        insert.bind(14, request.tracestate)
        insert.bind(15, StoredJob.idsText(request.after))
        insert.bind(16, StoredJob.idsText(waiting))
        try insert.run()
        guard let job = try storedJob(db.lastInsertRowID) else { throw .storage("enqueue into \(request.queue) inserted no row") }
        try record(.enqueued, job.job, context, data: nil)
        return (try settleNewJob(job.job, states, context), true)
    }

    public func progress(_ request: ProgressRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            request.fence, operation: "report progress on", from: ["running"],
            set: """
                progress = CASE ?4 WHEN 1 THEN ?5 ELSE progress END,
                lease_expires_at = ?3 + coalesce(?6, lease_ms)
                """,
            context: context
        ) { statement in
            statement.bind(4, request.progress == nil ? 0 : 1)
            statement.bind(5, request.progress.flatMap { $0.isNull ? nil : $0.text })
            statement.bind(6, request.leaseMs)
        }
        try record(.progress, job, context, data: request.progress)
        return job
    }

    public func complete(_ request: CompleteRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            request.fence, operation: "complete", from: ["running"],
            set: "state = 'completed', result = ?4, lease_expires_at = NULL", context: context
        ) { statement in
            statement.bind(4, request.result.isNull ? nil : request.result.text)
        }
        try record(.completed, job, context, data: request.result.isNull ? nil : request.result)
        try settleDependents(of: job, context)
        return job
    }

    public func fail(_ request: FailRequest, jitter: Double, _ context: ChangeContext) throws(StoreError) -> Job {
        try fail(request, jitter: jitter, context, recordedAs: nil)
    }

    /// `fail`, its event of type `kind` when given (a timeout's), else as a fail's.
    func fail(_ request: FailRequest, jitter: Double, _ context: ChangeContext, recordedAs kind: JobEvent.Kind?) throws(StoreError) -> Job {
        guard let stored = try storedJob(request.fence.job) else { throw .jobNotFound(request.fence.job) }
        let (willRetry, delay) = stored.failure(request, jitter: jitter)
        let runAt = context.now + delay
        let errorText = request.error.isNull ? nil : request.error.text
        let job: Job
        if willRetry {
            job = try guarded(
                request.fence, operation: "fail", from: ["running"],
                set: "state = ?4, run_at = ?5, last_error = ?6, lease_expires_at = NULL", context: context
            ) { statement in
                statement.bind(4, delay > 0 ? "scheduled" : "pending")
                statement.bind(5, runAt)
                statement.bind(6, errorText)
            }
        } else {
            job = try guarded(
                request.fence, operation: "fail", from: ["running"],
                set: "state = 'failed', last_error = ?4, lease_expires_at = NULL", context: context
            ) { statement in
                statement.bind(4, errorText)
            }
        }
        try record(kind ?? (willRetry ? .retryScheduled : .failed), job, context, data: request.error.isNull ? nil : request.error)
        try settleDependents(of: job, context)
        return job
    }

    public func cancel(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            fence, operation: "cancel", from: ["pending", "scheduled", "blocked", "running"],
            set: "state = 'cancelled', lease_expires_at = NULL, waiting_for = NULL", context: context)
        try record(.cancelled, job, context, data: nil)
        try removeEdges(ofJobs: [job.id])
        try settleDependents(of: job, context)
        return job
    }

    public func retry(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            fence, operation: "retry", from: ["failed", "cancelled"],
            set: "state = 'pending', attempt = 0, run_at = ?3, result = NULL", context: context)
        try record(.retried, job, context, data: nil)
        return try settleRetriedJob(job)
    }

    public func release(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            fence, operation: "release", from: ["running"],
            set: "state = 'pending', attempt = attempt - 1, run_at = ?3, lease_expires_at = NULL, worker = NULL",
            context: context)
        try record(.leaseExpired, job, context, data: RawJSON(["reason": "the claimant disconnected before the claim reached it"]))
        return job
    }

    // MARK: Helpers

    /// Applies one guarded UPDATE: it matches only the fenced id, version and allowed states,
    /// bumps the version by exactly 1, and when it matches nothing the reason is read back.
    /// ?1, ?2 and ?3 are the id, version and time; `set` may use ?4 onwards, bound by `bind`.
    func guarded(
        _ fence: JobVersion, operation: String, from states: [String], set: String, context: ChangeContext,
        bind: (Statement) -> Void = { _ in }
    ) throws(StoreError) -> Job {
        // `=` joined by OR, not IN: see migration 5.
        let allowedStates = states.map { "state = '\($0)'" }.joined(separator: " OR ")
        let statement = try db.prepare(
            """
            UPDATE jobs SET \(set), version = version + 1, updated_at = ?3
            WHERE id = ?1 AND version = ?2 AND (\(allowedStates))
            """)
        statement.bind(1, fence.job)
        statement.bind(2, fence.version)
        statement.bind(3, context.now)
        bind(statement)
        try statement.run()
        // Read back rather than RETURNING: SQLite buffers RETURNING rows in a temporary
        // B-tree, whose set-up cost more than this lookup by primary key.
        let current = try storedJob(fence.job)
        if db.changes == 1, let current { return current.job }
        guard let current else { throw .jobNotFound(fence.job) }
        if current.job.version != fence.version {
            throw .staleVersion(current.job.reference, expected: fence.version)
        }
        let allowed = states.map(StoredJob.wireState).reduce(into: [JobState]()) { if !$0.contains($1) { $0.append($1) } }
        throw .invalidState(current.job.reference, operation: operation, allowed: allowed)
    }

    private func singleRow(_ statement: Statement) throws(StoreError) -> StoredJob? {
        defer { statement.reset() }
        return try statement.step() ? StoredJob(row: statement) : nil
    }

    func record(_ kind: JobEvent.Kind, _ job: Job, _ context: ChangeContext, data: RawJSON?) throws(StoreError) {
        let statement = try db.prepare(
            "INSERT INTO events (at, job, queue, type, version, state, data, peer) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        statement.bind(1, context.now)
        statement.bind(2, job.id)
        statement.bind(3, job.queue)
        statement.bind(4, kind.rawValue)
        statement.bind(5, job.version)
        statement.bind(6, job.state.rawValue)
        statement.bind(7, data?.text)
        statement.bind(8, context.peer)
        try statement.run()
        transactionEvents.append(
            JobEvent(
                seq: db.lastInsertRowID, at: context.now, job: job.id, queue: job.queue, kind: kind, version: job.version,
                state: job.state, data: data, peer: context.peer))
    }
}
