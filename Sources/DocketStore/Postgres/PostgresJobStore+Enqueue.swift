import DocketProtocol
import PostgresNIO

/// Enqueueing: one job, or the `jobs` form in as few statements as its keys and
/// dependencies allow.
extension PostgresJobStore {
    public func enqueue(_ request: EnqueueRequest, _ context: ChangeContext) throws(StoreError) -> (job: Job, created: Bool) {
        latestNow = context.now
        return try enqueue(request, dependencies: try dependencyStates([request]), context)
    }

    /// `enqueue`, with the states of the jobs it names in `after` already read.
    private func enqueue(_ request: EnqueueRequest, dependencies known: [Int64: JobState], _ context: ChangeContext)
        throws(StoreError) -> (job: Job, created: Bool)
    {
        var states = known
        try addStates(of: request.after, to: &states)
        // Looked up first: an insert that meets the key still uses up an id, and ids without
        // gaps are what clients see on SQLite too. ON CONFLICT covers the race with another
        // daemon inserting the same key meanwhile.
        if let key = request.uniqueKey, let existing = try existingJob(queue: request.queue, uniqueKey: key) {
            return (existing, false)
        }
        let waiting = waitingList(request.after, states)
        let rows = try session.run(Self.insertStatement, insertValues(request, waiting: waiting, context))
        return try inserted(request, rows, states, context)
    }

    /// The `jobs` form: consecutive jobs without a unique key go in with one multi-row
    /// insert (one statement, not one each); a job with a key is enqueued alone, after
    /// those before it, as its key may be among them.
    public func enqueue(all requests: [EnqueueRequest], _ context: ChangeContext) throws(StoreError) -> [(job: Job, created: Bool)] {
        latestNow = context.now
        var states = try dependencyStates(requests)
        var results: [(job: Job, created: Bool)] = []
        results.reserveCapacity(requests.count)
        var keyless: [EnqueueRequest] = []
        func insertKeyless() throws(StoreError) {
            guard !keyless.isEmpty else { return }
            try addStates(of: keyless.flatMap(\.after), to: &states)
            for job in try insert(keyless, now: context.now, states: states) {
                record(.enqueued, job, context, data: nil)
                results.append((try settleNewJob(job, states, context), true))
            }
            keyless.removeAll()
        }
        for request in requests {
            // A key may be among the jobs before it, and so may the items it names by index:
            // those go in first.
            if request.uniqueKey != nil || !request.afterIndex.isEmpty { try insertKeyless() }
            if request.uniqueKey == nil {
                keyless.append(request.resolvingAfterIndex(results))
            } else {
                results.append(try enqueue(request.resolvingAfterIndex(results), dependencies: states, context))
            }
        }
        try insertKeyless()
        return results
    }

    /// Inserts jobs without a unique key with one multi-row insert, in order; `states` holds
    /// those of the jobs they name in `after`.
    private func insert(_ requests: [EnqueueRequest], now: Int64, states: [Int64: JobState]) throws(StoreError) -> [Job] {
        let sent = try sendInsert(requests, now: now, states: states)
        return try insertedJobs(try session.answers([sent])[0], count: requests.count)
    }

    /// Sends `insert`'s statement without waiting for it (see `PostgresSession.answers`).
    func sendInsert(_ requests: [EnqueueRequest], now: Int64, states: [Int64: JobState]) throws(StoreError)
        -> EventLoopFuture<[PostgresRow]>
    {
        let runAts = requests.map { $0.runAt.resolve(now: now) }
        let waiting = requests.map { waitingList($0.after, states) }
        return try session.send(
            """
            INSERT INTO docket_jobs (queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms,
                                     backoff_max_ms, run_at, created_at, updated_at, concurrency_key, timeout_ms,
                                     traceparent, tracestate, after_ids, waiting_for)
            SELECT queue, state, 1, priority, payload, 0, max_attempts, backoff_initial_ms, backoff_max_ms, run_at, $9, $9,
                   nullif(concurrency_key, ''), nullif(timeout_ms, 0), nullif(traceparent, ''), nullif(tracestate, ''),
                   nullif(after_ids, '')::int8[], nullif(waiting_for, '')::int8[]
            FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::int8[], $7::int8[], $8::int8[],
                        $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[])
                 WITH ORDINALITY AS v(queue, state, priority, payload, max_attempts, backoff_initial_ms, backoff_max_ms,
                                      run_at, concurrency_key, timeout_ms, traceparent, tracestate, after_ids, waiting_for, n)
            ORDER BY n
            RETURNING \(Self.jobColumns)
            """,
            [
                .textArray(requests.map(\.queue)),
                .textArray(zip(runAts, waiting).map { !$1.isEmpty ? "blocked" : $0 > now ? "scheduled" : "pending" }),
                .intArray(requests.map(\.priority)), .textArray(requests.map(\.payload.text)),
                .intArray(requests.map(\.maxAttempts)), .intArray(requests.map(\.backoffInitialMs)),
                .intArray(requests.map(\.backoffMaxMs)), .intArray(runAts), .int(now),
                // '' and 0 for none (never valid values): array binds take no NULLs.
                .textArray(requests.map { $0.concurrencyKey ?? "" }), .intArray(requests.map { $0.timeoutMs ?? 0 }),
                .textArray(requests.map { $0.traceparent ?? "" }), .textArray(requests.map { $0.tracestate ?? "" }),
                // Arrays of arrays must be rectangular, so the id lists go as text ('{1,2}').
                .textArray(requests.map { Self.arrayText($0.after) }), .textArray(waiting.map(Self.arrayText)),
            ])
    }

    /// The jobs of an insert's answer, in the order of its rows.
    func insertedJobs(_ rows: [PostgresRow], count: Int) throws(StoreError) -> [Job] {
        // Ids were handed out in the order of the rows; the answer's order is not promised.
        let jobs = rows.map { Self.storedJob(row: $0.makeRandomAccess()).job }.sorted { $0.id < $1.id }
        guard jobs.count == count else { throw .storage("a batch insert stored \(jobs.count) of \(count) jobs") }
        return jobs
    }

    /// Ids as a PostgreSQL array literal, or '' for none.
    static func arrayText(_ ids: [Int64]) -> String {
        ids.isEmpty ? "" : "{" + ids.map(String.init).joined(separator: ",") + "}"
    }

    private static let insertStatement = """
        INSERT INTO docket_jobs (queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms,
                                 backoff_max_ms, run_at, created_at, updated_at, unique_key, concurrency_key, timeout_ms,
                                 traceparent, tracestate, after_ids, waiting_for)
        VALUES ($1, $2, 1, $3, $4, 0, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14, nullif($15::int8[], '{}'),
                nullif($16::int8[], '{}'))
        ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
        RETURNING \(jobColumns)
        """

    private func insertValues(_ request: EnqueueRequest, waiting: [Int64], _ context: ChangeContext) -> [PostgresValue] {
        let runAt = request.runAt.resolve(now: context.now)
        return [
            .text(request.queue), .text(!waiting.isEmpty ? "blocked" : runAt > context.now ? "scheduled" : "pending"),
            .int(request.priority),
            .text(request.payload.text), .int(request.maxAttempts), .int(request.backoffInitialMs), .int(request.backoffMaxMs),
            .int(runAt), .int(context.now), .optionalText(request.uniqueKey), .optionalText(request.concurrencyKey),
            .optionalInt(request.timeoutMs), .optionalText(request.traceparent), .optionalText(request.tracestate),
            .intArray(request.after), .intArray(waiting),
        ]
    }

    /// The enqueued job from its insert's answer, with its event; no row means the unique
    /// key was taken meanwhile.
    private func inserted(_ request: EnqueueRequest, _ rows: [PostgresRow], _ states: [Int64: JobState], _ context: ChangeContext)
        throws(StoreError) -> (job: Job, created: Bool)
    {
        guard let inserted = rows.first?.makeRandomAccess() else {
            // The key was taken, by a commit that came first (the insert waited for it).
            guard let key = request.uniqueKey, let existing = try existingJob(queue: request.queue, uniqueKey: key) else {
                throw .conflict("the job holding this unique_key went away while the enqueue waited for it")
            }
            return (existing, false)
        }
        let job = Self.storedJob(row: inserted).job
        record(.enqueued, job, context, data: nil)
        return (try settleNewJob(job, states, context), true)
    }

    private func existingJob(queue: String, uniqueKey: String) throws(StoreError) -> Job? {
        try session.first(
            "SELECT \(Self.jobColumns) FROM docket_jobs WHERE queue = $1 AND unique_key = $2",
            [.text(queue), .text(uniqueKey)]
        ).map { Self.storedJob(row: $0).job }
    }
}
