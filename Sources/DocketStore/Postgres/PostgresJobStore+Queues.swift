import DocketProtocol
import PostgresNIO

extension PostgresJobReader {
    static let queueColumns = "name, paused, max_running, max_running_per_key, rate_max, rate_per_ms, version"

    public func queueSettings(named name: String?) throws(StoreError) -> [QueueSettings] {
        try queueSettings(
            name == nil
                ? "SELECT \(Self.queueColumns) FROM docket_queues ORDER BY name COLLATE \"C\""
                : "SELECT \(Self.queueColumns) FROM docket_queues WHERE name = $1",
            name.map { [.text($0)] } ?? [])
    }

    func queueSettings(_ sql: String, _ values: [PostgresValue]) throws(StoreError) -> [QueueSettings] {
        Self.queueSettings(rows: try session.run(sql, values))
    }

    static func queueSettings(rows: [PostgresRow]) -> [QueueSettings] {
        rows.map { row in
            let r = row.makeRandomAccess()
            return QueueSettings(
                name: r.text(0), paused: r.bool(1), maxRunning: r.optionalInt(2), maxRunningPerKey: r.optionalInt(3),
                rate: r.optionalInt(4).map { RateLimit(max: $0, perMs: r.int(5)) }, version: r.int(6))
        }
    }
}

extension PostgresJobStore: LimitedClaimSteps {
    public func claim(_ request: ClaimRequest, worker: String?, _ context: ChangeContext) throws(StoreError) -> ClaimOutcome {
        latestNow = context.now
        if let outcome = try claimInOneStatement([ClaimItem(request: request, worker: worker, context: context)])?.first {
            return outcome
        }
        // Some queue has settings to obey. Their rows are locked until commit, so claims of a
        // limited queue take turns across daemons and what they count stays true until they
        // commit.
        let limited = try queueSettings(
            """
            SELECT \(Self.queueColumns) FROM docket_queues WHERE name = ANY($1::text[]) AND \(Self.holdsClaims)
            ORDER BY name COLLATE "C" FOR UPDATE
            """, [.textArray(request.queues)])
        return try claim(
            request, settings: Dictionary(uniqueKeysWithValues: limited.map { ($0.name, $0) }), worker: worker, context)
    }

    func recordClaimed(_ job: Job, worker: String?, _ context: ChangeContext) {
        record(.claimed, job, context, data: worker.map { RawJSON(.object(JSONObject([("worker", .string($0))]))) })
    }

    public func putQueue(_ request: QueuePutRequest, _ context: ChangeContext) throws(StoreError) -> QueueSettings {
        latestNow = context.now
        let current = try queueSettings(
            "SELECT \(Self.queueColumns) FROM docket_queues WHERE name = $1 FOR UPDATE", [.text(request.queue)]
        ).first
        let next = try request.applied(to: current)
        // Guarded like every change: a create that meets another daemon's (version 0 twice)
        // or an edit that lost a race changes nothing and is refused as stale.
        let stored = try session.run(
            """
            INSERT INTO docket_queues (name, paused, max_running, max_running_per_key, rate_max, rate_per_ms, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (name) DO UPDATE SET paused = $2, max_running = $3, max_running_per_key = $4, rate_max = $5,
                                             rate_per_ms = $6, version = $7
            WHERE docket_queues.version = $7 - 1
            RETURNING version
            """,
            [
                .text(next.name), .bool(next.paused), .optionalInt(next.maxRunning), .optionalInt(next.maxRunningPerKey),
                .optionalInt(next.rate?.max), .optionalInt(next.rate?.perMs), .int(next.version),
            ])
        guard !stored.isEmpty else {
            let present = try queueSettings(named: request.queue).first ?? current ?? QueueSettings(name: request.queue)
            throw .queueStale(present.reference, expected: request.version)
        }
        // Resumed or loosened: other daemons' waiting claims look again.
        wokenQueues.insert(next.name)
        return next
    }

    func runningCount(queue: String) throws(StoreError) -> Int64 {
        try session.first("SELECT count(*) FROM docket_jobs WHERE queue = $1 AND state = 'running'", [.text(queue)])?.int(0) ?? 0
    }

    func recentClaim(queue: String, since: Int64, offset: Int64) throws(StoreError) -> Int64? {
        try session.first(
            "SELECT at FROM docket_queue_claims WHERE queue = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
            [.text(queue), .int(since), .int(offset)])?.int(0)
    }

    func bestCandidate(queue: String, perKeyLimit: Int64?) throws(StoreError) -> ClaimCandidate? {
        let keyCondition = perKeyLimit == nil ? "" : """
            AND (concurrency_key IS NULL
                 OR (SELECT count(*) FROM docket_jobs AS r
                     WHERE r.queue = $1 AND r.state = 'running' AND r.concurrency_key = j.concurrency_key) < $2)
            """
        let row = try session.first(
            """
            SELECT id, priority, run_at FROM docket_jobs AS j WHERE queue = $1 AND state = 'pending' \(keyCondition)
            ORDER BY priority, run_at, id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
            """, perKeyLimit.map { [.text(queue), .int($0)] } ?? [.text(queue)])
        return row.map { ClaimCandidate(id: $0.int(0), priority: $0.int(1), runAt: $0.int(2)) }
    }

    func hasPendingJobs(queue: String) throws(StoreError) -> Bool {
        try session.first("SELECT 1 FROM docket_jobs WHERE queue = $1 AND state = 'pending' LIMIT 1", [.text(queue)]) != nil
    }

    /// $1 the job, $2 the lease, $3 the time, $4 the worker, $5 `pending`: bound, not written
    /// in, so that the plan PostgreSQL keeps finds the job by primary key; with the state
    /// written in, the kept plan made on a small table scanned docket_jobs_ready whole.
    static let takeStatement = """
        UPDATE docket_jobs SET state = 'running', version = version + 1, attempt = attempt + 1, lease_ms = $2::int8,
                               lease_expires_at = $3::int8 + $2::int8, worker = $4::text, updated_at = $3::int8,
                               attempt_deadline = $3::int8 + timeout_ms
        WHERE id = $1 AND state = $5::text
        RETURNING \(jobColumns)
        """

    func take(_ candidate: ClaimCandidate, _ request: ClaimRequest, worker: String?, _ context: ChangeContext) throws(StoreError) -> Job {
        let row = try session.first(
            Self.takeStatement,
            [.int(candidate.id), .int(request.leaseMs), .int(context.now), .optionalText(worker), .text("pending")])
        guard let row else { throw .storage("job \(candidate.id) was eligible but its claim changed nothing") }
        let job = Self.storedJob(row: row).job
        recordClaimed(job, worker: worker, context)
        return job
    }

    func recordClaim(queue: String, at: Int64, forgetUpTo: Int64) throws(StoreError) {
        try session.send("DELETE FROM docket_queue_claims WHERE queue = $1 AND at <= $2", [.text(queue), .int(forgetUpTo)])
        try session.send("INSERT INTO docket_queue_claims (queue, at) VALUES ($1, $2)", [.text(queue), .int(at)])
    }
}
