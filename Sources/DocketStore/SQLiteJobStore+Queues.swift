import DocketProtocol

extension SQLiteJobReader {
    static let queueColumns = "name, paused, max_running, max_running_per_key, rate_max, rate_per_ms, version"

    public func queueSettings(named name: String?) throws(StoreError) -> [QueueSettings] {
        let statement = try db.prepare(
            name == nil
                ? "SELECT \(Self.queueColumns) FROM queues ORDER BY name"
                : "SELECT \(Self.queueColumns) FROM queues WHERE name = ?1")
        if let name { statement.bind(1, name) }
        defer { statement.reset() }
        var settings: [QueueSettings] = []
        while try statement.step() {
            let s = statement
            settings.append(
                QueueSettings(
                    name: s.text(0), paused: s.int(1) != 0, maxRunning: s.optionalInt(2), maxRunningPerKey: s.optionalInt(3),
                    rate: s.optionalInt(4).map { RateLimit(max: $0, perMs: s.int(5)) }, version: s.int(6)))
        }
        return settings
    }
}

extension SQLiteJobStore: LimitedClaimSteps {
    public func claim(_ request: ClaimRequest, worker: String?, _ context: ChangeContext) throws(StoreError) -> ClaimOutcome {
        if claimSettings == nil {
            claimSettings = Dictionary(
                uniqueKeysWithValues: try queueSettings(named: nil).filter(\.holdsClaims).map { ($0.name, $0) })
        }
        return try claim(request, settings: claimSettings ?? [:], worker: worker, context)
    }

    public func putQueue(_ request: QueuePutRequest, _ context: ChangeContext) throws(StoreError) -> QueueSettings {
        let next = try request.applied(to: try queueSettings(named: request.queue).first)
        let statement = try db.prepare(
            """
            INSERT INTO queues (name, paused, max_running, max_running_per_key, rate_max, rate_per_ms, version)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT (name) DO UPDATE SET paused = ?2, max_running = ?3, max_running_per_key = ?4, rate_max = ?5,
                                             rate_per_ms = ?6, version = ?7
            WHERE version = ?7 - 1
            """)
        statement.bind(1, next.name)
        statement.bind(2, next.paused ? 1 : 0)
        statement.bind(3, next.maxRunning)
        statement.bind(4, next.maxRunningPerKey)
        statement.bind(5, next.rate?.max)
        statement.bind(6, next.rate?.perMs)
        statement.bind(7, next.version)
        try statement.run()
        guard db.changes == 1 else { throw .storage("queue \(request.queue) settings changed under the writer") }
        claimSettings?[next.name] = next.holdsClaims ? next : nil
        return next
    }

    func runningCount(queue: String) throws(StoreError) -> Int64 {
        try db.scalar("SELECT count(*) FROM jobs WHERE queue = ?1 AND state = 'running'", [.text(queue)]) ?? 0
    }

    func recentClaim(queue: String, since: Int64, offset: Int64) throws(StoreError) -> Int64? {
        try db.scalar(
            "SELECT at FROM queue_claims WHERE queue = ?1 AND at > ?2 ORDER BY at DESC LIMIT 1 OFFSET ?3",
            [.text(queue), .int(since), .int(offset)])
    }

    func bestCandidate(queue: String, perKeyLimit: Int64?) throws(StoreError) -> ClaimCandidate? {
        // The first entry of the queue's range of jobs_ready; with a key limit, the first whose
        // key has room, counted in jobs_running_keys, so a full key never blocks those behind.
        let statement = try db.prepare(
            perKeyLimit == nil
                ? "SELECT id, priority, run_at FROM jobs WHERE queue = ?1 AND state = 'pending' ORDER BY priority, run_at, id LIMIT 1"
                : """
                SELECT id, priority, run_at FROM jobs AS j WHERE queue = ?1 AND state = 'pending'
                    AND (concurrency_key IS NULL
                         OR (SELECT count(*) FROM jobs AS r
                             WHERE r.queue = ?1 AND r.state = 'running' AND r.concurrency_key = j.concurrency_key) < ?2)
                ORDER BY priority, run_at, id LIMIT 1
                """)
        defer { statement.reset() }
        statement.bind(1, queue)
        if let perKeyLimit { statement.bind(2, perKeyLimit) }
        guard try statement.step() else { return nil }
        return ClaimCandidate(id: statement.int(0), priority: statement.int(1), runAt: statement.int(2))
    }

    func hasPendingJobs(queue: String) throws(StoreError) -> Bool {
        try db.scalar("SELECT 1 FROM jobs WHERE queue = ?1 AND state = 'pending' LIMIT 1", [.text(queue)]) != nil
    }

    func take(_ candidate: ClaimCandidate, _ request: ClaimRequest, worker: String?, _ context: ChangeContext) throws(StoreError) -> Job {
        let update = try db.prepare(
            """
            UPDATE jobs SET state = 'running', version = version + 1, attempt = attempt + 1, lease_ms = ?2,
                            lease_expires_at = ?3 + ?2, worker = ?4, updated_at = ?3, attempt_deadline = ?3 + timeout_ms
            WHERE id = ?1 AND state = 'pending'
            """)
        update.bind(1, candidate.id)
        update.bind(2, request.leaseMs)
        update.bind(3, context.now)
        update.bind(4, worker)
        try update.run()
        guard db.changes == 1, let claimed = try storedJob(candidate.id) else {
            throw .storage("job \(candidate.id) was eligible but its claim changed nothing")
        }
        try record(.claimed, claimed.job, context, data: worker.map { RawJSON(.object(JSONObject([("worker", .string($0))]))) })
        return claimed.job
    }

    func recordClaim(queue: String, at: Int64, forgetUpTo: Int64) throws(StoreError) {
        try db.prepare("DELETE FROM queue_claims WHERE queue = ?1 AND at <= ?2").run([.text(queue), .int(forgetUpTo)])
        try db.prepare("INSERT INTO queue_claims (queue, at) VALUES (?1, ?2)").run([.text(queue), .int(at)])
    }
}
