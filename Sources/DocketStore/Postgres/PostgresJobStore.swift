import DocketProtocol
import Logging
import NIOCore
import PostgresNIO

/// The PostgreSQL backend: the writer's connection, shared with any number of other
/// `docketd` on the same database.
///
/// Every transition is one guarded statement, exactly as on SQLite; what changes is that
/// other daemons write too. Row locks (`FOR NO KEY UPDATE SKIP LOCKED` for claims, the
/// guarded `UPDATE` for the rest, re-checked by PostgreSQL after a lock wait) keep two
/// daemons from taking one job; events get their `seq` at commit under one counter row's
/// lock, so seqs become visible in order (see `commit`); maintenance is done by whichever
/// daemon holds an advisory lock for it, its work fenced like everything else.
public final class PostgresJobStore: PostgresJobReader, JobStore {
    public let settings: PostgresSettings
    /// Names this store's notifications, so that the daemon's own follower can tell them
    /// from other daemons' (it already knows what its own commits did).
    public let origin = String(UInt64.random(in: 1...UInt64.max), radix: 36)
    /// The notification channel of the store's schema (see `PostgresSchema.channel`).
    public let channel: String
    let logger: Logger
    /// Events of the open transaction; their seqs are handed out at commit.
    private var transactionEvents: [JobEvent] = []
    /// Queues the open transaction made jobs eligible in, for other daemons' waiting claims.
    var wokenQueues: Set<String> = []
    /// What completions released in the open transaction (see `DependencySteps`).
    var released = ReleasedJobs()
    /// The jobs waiting for a job that a change just ended, taken with that change (see
    /// `guarded`), until `takeDependents` asks for them.
    var takenDependents: [Int64: [Int64]] = [:]
    /// Whether this transaction holds the maintenance lock: nil until first asked.
    var holdsMaintenance: Bool?
    /// The time of the latest change, for deadlines put off while another daemon maintains.
    var latestNow: Int64 = 0

    /// Connects, and creates or migrates the schema.
    public init(settings: PostgresSettings, logger: Logger) throws(StoreError) {
        self.settings = settings
        self.logger = logger
        let session = Self.makeSession(settings, logger, writer: true)
        try PostgresSchema.migrate(session)
        channel = PostgresSchema.channel(schema: try session.first("SELECT current_schema()::text")?.text(0) ?? "public")
        super.init(session: session)
    }

    /// `writer`: the connection that runs the transitions, whose prepared statements keep the
    /// generic plan PostgreSQL makes after their first few runs until the next ANALYZE. On a
    /// new database that plan is made while docket_jobs is nearly empty, when reading the
    /// whole table looks cheaper than an index, and a claim then read 10,000 rows for 8 until
    /// autovacuum came by. Every transition has an index made for it, so sequential scans are
    /// ruled out on that connection.
    static func makeSession(_ settings: PostgresSettings, _ logger: Logger, writer: Bool = false) -> PostgresSession {
        // A connection that dies mid-transaction must not leave its row locks held for long.
        PostgresSession(
            settings: settings, logger: logger,
            setup: ["SET application_name = 'docketd'", "SET idle_in_transaction_session_timeout = '30s'"]
                + (writer ? ["SET enable_seqscan = off"] : []))
    }

    public func makeReader() throws(StoreError) -> any JobReader {
        Self.makeReader(settings: settings, logger: logger)
    }

    /// A reader on a connection of its own, which it opens when first used.
    public static func makeReader(settings: PostgresSettings, logger: Logger) -> PostgresJobReader {
        PostgresJobReader(session: makeSession(settings, logger))
    }

    /// The plan PostgreSQL picks for `sql` (for tests of the indexes).
    public func queryPlan(_ sql: String) throws(StoreError) -> [String] {
        try session.run("EXPLAIN " + sql).map { $0.makeRandomAccess().text(0) }
    }

    // MARK: Transactions

    public func begin() throws(StoreError) {
        transactionEvents.removeAll(keepingCapacity: true)
        wokenQueues.removeAll()
        released = ReleasedJobs()
        takenDependents.removeAll()
        holdsMaintenance = nil
        try session.send("BEGIN")
    }

    /// Hands the transaction's events their seqs and commits. The counter row's lock is held
    /// from here to the end of the commit, so the next transaction to take seqs commits
    /// after this one: a reader that sees seq N already sees every seq below it. One NOTIFY
    /// per transaction (not per change) tells the other daemons what to read and whom to
    /// wake; its cluster-wide lock costs nothing more, since the counter already serialises
    /// these commits.
    @discardableResult
    public func commit() throws(StoreError) -> [JobEvent] {
        var events = transactionEvents
        transactionEvents.removeAll(keepingCapacity: true)
        // The events go with the COMMIT, in one round trip; their seqs are read after it.
        let inserted = events.isEmpty ? nil : try insertEvents(events)
        if events.isEmpty && !wokenQueues.isEmpty {
            try session.send("SELECT pg_notify($1, $2)", [.text(channel), .text(notification(seq: nil))])
        }
        try session.send("COMMIT")
        // Waits for every statement sent, the COMMIT included.
        let answers = try session.answers(inserted.map { [$0] } ?? [], committing: true)
        if inserted != nil {
            guard let base = answers[0].first?.makeRandomAccess().int(0) else {
                throw .inDoubt("the seqs of a committed transaction's events could not be read back")
            }
            for index in events.indices { events[index].seq = base + Int64(index) + 1 }
        }
        return events
    }

    public func rollback() {
        transactionEvents.removeAll(keepingCapacity: true)
        if session.isConnected { _ = try? session.run("ROLLBACK") }
    }

    /// Takes seqs for `events` from the counter, stores them and notifies the other daemons,
    /// in one statement of fixed text (the events go as arrays, one per column), so it is
    /// prepared once; its answer is the seq before the first.
    private static let insertEventsStatement = """
        WITH c AS (UPDATE docket_event_counter SET last_seq = last_seq + $1::int8 WHERE id = 1 RETURNING last_seq - $1::int8 AS base),
        e AS (INSERT INTO docket_events (seq, at, job, queue, type, version, state, data, peer)
              SELECT c.base + v.n, v.at, v.job, v.queue, v.type, v.version, v.state, v.data, v.peer
              FROM c, unnest($2::int8[], $3::int8[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[], $9::text[])
                      WITH ORDINALITY AS v(at, job, queue, type, version, state, data, peer, n))
        SELECT c.base, pg_notify($11::text, '{"seq":' || (c.base + $1::int8) || ',' || substr($10::text, 2)) FROM c
        """

    private func insertEvents(_ events: [JobEvent]) throws(StoreError) -> EventLoopFuture<[PostgresRow]> {
        let values: [PostgresValue] = [
            .int(Int64(events.count)), .intArray(events.map(\.at)), .intArray(events.map(\.job)),
            .textArray(events.map(\.queue)), .textArray(events.map(\.kind.rawValue)), .intArray(events.map(\.version)),
            .textArray(events.map(\.state.rawValue)), .optionalTextArray(events.map { $0.data?.text }),
            .optionalTextArray(events.map(\.peer)),
            // The seq goes in front of the rest of the JSON object once it is known.
            .text(notification(seq: nil)), .text(channel),
        ]
        return try session.send(Self.insertEventsStatement, values)
    }

    /// The notification's JSON: `{"seq": N, "wake": [queues]}`, `wake` null when the list
    /// would not fit in a notification (then every waiting claim looks).
    private func notification(seq: Int64?) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("from")
        writer.string(origin)
        if let seq {
            writer.key("seq")
            writer.int(seq)
        }
        writer.key("wake")
        let total = wokenQueues.reduce(0) { $0 + $1.utf8.count + 3 }
        if total > 6000 {
            writer.null()
        } else {
            writer.beginArray()
            for queue in wokenQueues.sorted() { writer.string(queue) }
            writer.endArray()
        }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    // MARK: Transitions

    /// A docket_queues row whose settings a claim must obey (see `QueueSettings.holdsClaims`).
    static let holdsClaims = "(paused OR max_running IS NOT NULL OR max_running_per_key IS NOT NULL OR rate_max IS NOT NULL)"

    public func progress(_ request: ProgressRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            request.fence, operation: "report progress on", from: ["running"],
            set: "progress = CASE WHEN $4::bool THEN $5::text ELSE progress END, lease_expires_at = $3::int8 + coalesce($6::int8, lease_ms)",
            [.bool(request.progress != nil), .optionalText(request.progress.flatMap { $0.isNull ? nil : $0.text }),
             .optionalInt(request.leaseMs)],
            context)
        record(.progress, job, context, data: request.progress)
        return job
    }

    public func complete(_ request: CompleteRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            request.fence, operation: "complete", from: ["running"],
            set: "state = 'completed', result = $4, lease_expires_at = NULL",
            [.optionalText(request.result.isNull ? nil : request.result.text)], context, endsJob: true)
        record(.completed, job, context, data: request.result.isNull ? nil : request.result)
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
        let errorText: PostgresValue = .optionalText(request.error.isNull ? nil : request.error.text)
        let job =
            willRetry
            ? try guarded(
                request.fence, operation: "fail", from: ["running"],
                set: "state = $4, run_at = $5, last_error = $6, lease_expires_at = NULL",
                [.text(delay > 0 ? "scheduled" : "pending"), .int(context.now + delay), errorText], context)
            : try guarded(
                request.fence, operation: "fail", from: ["running"],
                set: "state = 'failed', last_error = $4, lease_expires_at = NULL", [errorText], context, endsJob: true)
        record(kind ?? (willRetry ? .retryScheduled : .failed), job, context, data: request.error.isNull ? nil : request.error)
        try settleDependents(of: job, context)
        return job
    }

    public func cancel(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            fence, operation: "cancel", from: ["pending", "scheduled", "blocked", "running"],
            set: "state = 'cancelled', lease_expires_at = NULL, waiting_for = NULL", [], context, endsJob: true)
        record(.cancelled, job, context, data: nil)
        try removeEdges(ofJobs: [job.id])
        try settleDependents(of: job, context)
        return job
    }

    public func retry(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            fence, operation: "retry", from: ["failed", "cancelled"],
            set: "state = 'pending', attempt = 0, run_at = $3, result = NULL", [], context)
        record(.retried, job, context, data: nil)
        return try settleRetriedJob(job)
    }

    public func release(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job {
        let job = try guarded(
            fence, operation: "release", from: ["running"],
            set: "state = 'pending', attempt = attempt - 1, run_at = $3, lease_expires_at = NULL, worker = NULL", [], context)
        record(.leaseExpired, job, context, data: RawJSON(["reason": "the claimant disconnected before the claim reached it"]))
        return job
    }

    // MARK: Helpers

    /// One guarded UPDATE that matches only the fenced id, version and allowed states and
    /// bumps the version by exactly 1; in the same statement, when it matched nothing, the
    /// row as it is, to say why. $1, $2 and $3 are the id, version and time; `set` may use
    /// $4 onwards, bound from `values`.
    /// `endsJob`: the change may end the job, so the same statement also takes the edges of
    /// the jobs waiting for it when it did end, for `takeDependents` to find.
    func guarded(
        _ fence: JobVersion, operation: String, from states: [String], set: String, _ values: [PostgresValue],
        _ context: ChangeContext, endsJob: Bool = false
    ) throws(StoreError) -> Job {
        latestNow = context.now
        // The allowed states are bound, not written in: the plan PostgreSQL keeps for the
        // statement then finds the row by primary key, never through an index of the jobs in
        // one state (several are `WHERE state = 'running'`), read whole on a small table.
        let allowed = "$\(4 + values.count)::text[]"
        let freed = """
            , freed AS (
                DELETE FROM docket_dependencies
                WHERE dependency = (SELECT id FROM changed WHERE state IN ('completed', 'failed', 'cancelled'))
                RETURNING job)
            """
        let sql = """
            WITH changed AS (
                UPDATE docket_jobs SET \(set), version = version + 1, updated_at = $3::int8
                WHERE id = $1::int8 AND version = $2::int8 AND state = ANY(\(allowed))
                RETURNING \(Self.jobColumns))\(endsJob ? freed : "")
            SELECT \(Self.jobColumns), true, \(endsJob ? "(SELECT array_agg(job) FROM freed)" : "NULL::int8[]") FROM changed
            UNION ALL
            SELECT \(Self.jobColumns), false, NULL FROM docket_jobs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM changed)
            """
        let answer = try session.first(sql, [.int(fence.job), .int(fence.version), .int(context.now)] + values + [.textArray(states)])
        if endsJob, let answer { takenDependents[fence.job] = answer.ids(Self.jobColumnCount + 1) }
        guard let row = answer else { throw .jobNotFound(fence.job) }
        // The flag follows the job's columns.
        if row.bool(Self.jobColumnCount) { return Self.storedJob(row: row).job }
        // The row shown is from before any lock wait; after one, read it afresh.
        var current = Self.storedJob(row: row)
        if current.job.version == fence.version && states.contains(current.storedState) {
            guard let fresh = try storedJob(fence.job) else { throw .jobNotFound(fence.job) }
            current = fresh
            if current.job.version == fence.version && states.contains(current.storedState) {
                throw .conflict("job \(fence.job) changed while its update waited for a lock")
            }
        }
        if current.job.version != fence.version {
            throw .staleVersion(current.job.reference, expected: fence.version)
        }
        let wire = states.map(StoredJob.wireState).reduce(into: [JobState]()) { if !$0.contains($1) { $0.append($1) } }
        throw .invalidState(current.job.reference, operation: operation, allowed: wire)
    }

    func record(_ kind: JobEvent.Kind, _ job: Job, _ context: ChangeContext, data: RawJSON?) {
        transactionEvents.append(
            JobEvent(
                seq: 0, at: context.now, job: job.id, queue: job.queue, kind: kind, version: job.version, state: job.state,
                data: data, peer: context.peer))
        // Other daemons' waiting claims look again where a job became eligible, and where a
        // running one ended, which may bring a limited queue back under its limit.
        switch kind {
        case .completed, .failed, .retryScheduled, .leaseExpired, .cancelled: wokenQueues.insert(job.queue)
        default: if job.state == .pending && job.runAt <= context.now { wokenQueues.insert(job.queue) }
        }
    }
}
