import DocketProtocol
import PostgresNIO

/// Claims and completions of several clients, each group one statement instead of one per
/// request: every statement costs the writer a round trip to PostgreSQL, and the batch is
/// the sum of them. Rows are found by primary key through arrays (`id = ANY(…)`), never by
/// a join, whose plan would depend on statistics taken while the table was small.
extension PostgresJobStore {
    /// The best pending jobs of the queues, up to one per claim, handed out in claim order;
    /// when a queue has settings to obey, the claims go one by one through those rules.
    public func claim(together items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome] {
        guard items.count > 1, let first = items.first else { return try claimEach(items) }
        latestNow = first.context.now
        let queues = first.request.queues
        let rows = try session.run(
            Self.claimTogetherStatement(queues: queues.count),
            [
                .intArray(items.map(\.request.leaseMs)), .int(first.context.now), .optionalTextArray(items.map(\.worker)),
                queues.count == 1 ? .text(queues[0]) : .textArray(queues), .int(Int64(items.count)),
            ]
        ).map { $0.makeRandomAccess() }
        if rows.first?.bool(Self.jobColumnCount + 1) == true { return try claimEach(items) }
        var outcomes = Array(repeating: ClaimOutcome(job: nil), count: items.count)
        for row in rows where row.optionalInt(0) != nil {
            let index = Int(row.int(Self.jobColumnCount)) - 1
            let job = Self.storedJob(row: row).job
            recordClaimed(job, worker: items[index].worker, items[index].context)
            outcomes[index] = ClaimOutcome(job: job)
        }
        return outcomes
    }

    /// `claimStatement` for several claims: $1 their leases, $3 their workers, $5 how many.
    /// Its rows are the jobs taken, each with the position of its claim and the flag saying
    /// whether a queue has settings to obey; one row of NULLs and the flag when none was.
    static func claimTogetherStatement(queues: Int) -> String {
        let named = queues == 1 ? "name = $4::text" : "name = ANY($4::text[])"
        let position = "array_position((SELECT ids FROM picked), j.id)"
        return """
            WITH picked AS (
                SELECT array_agg(id ORDER BY priority, run_at, id) AS ids FROM (
                    SELECT id, priority, run_at FROM docket_jobs
                    WHERE \(queues == 1 ? "queue = $4::text" : "queue = ANY($4::text[])") AND state = 'pending'
                      AND NOT EXISTS (SELECT 1 FROM docket_queues WHERE \(named) AND \(Self.holdsClaims))
                    ORDER BY priority, run_at, id LIMIT $5::int8 FOR NO KEY UPDATE SKIP LOCKED) c),
            claimed AS (
                UPDATE docket_jobs j SET state = 'running', version = version + 1, attempt = attempt + 1,
                                         lease_ms = ($1::int8[])[\(position)], lease_expires_at = $2::int8 + ($1::int8[])[\(position)],
                                         worker = ($3::text[])[\(position)], updated_at = $2::int8,
                                         attempt_deadline = $2::int8 + j.timeout_ms
                WHERE j.id = ANY((SELECT ids FROM picked)::int8[])
                RETURNING \(Self.jobColumns), \(position))
            SELECT claimed.*, EXISTS (SELECT 1 FROM docket_queues WHERE \(named) AND \(Self.holdsClaims))
            FROM (VALUES (1)) AS one LEFT JOIN claimed ON true
            """
    }

    /// One guarded update for every completion; those it did not change (a stale version, a
    /// job no longer running, one another daemon held) go through `complete` alone, which
    /// says why.
    public func complete(together items: [(request: CompleteRequest, context: ChangeContext)]) throws(StoreError)
        -> [Result<Job, StoreError>]
    {
        let ids = items.map(\.request.fence.job)
        guard items.count > 1, let now = items.first?.context.now, Set(ids).count == ids.count else {
            return try completeEach(items)
        }
        latestNow = now
        let rows = try session.run(
            Self.completeTogetherStatement,
            [
                .intArray(ids), .intArray(items.map(\.request.fence.version)),
                .optionalTextArray(items.map { $0.request.result.isNull ? nil : $0.request.result.text }), .int(now),
            ])
        var completed: [Int64: Job] = [:]
        for row in rows.lazy.map({ $0.makeRandomAccess() }) {
            let job = Self.storedJob(row: row).job
            completed[job.id] = job
            takenDependents[job.id] = row.ids(Self.jobColumnCount)
        }
        var results: [Result<Job, StoreError>] = []
        results.reserveCapacity(items.count)
        for item in items {
            guard let job = completed[item.request.fence.job] else {
                results += try completeEach([item])
                continue
            }
            record(.completed, job, item.context, data: item.request.result.isNull ? nil : item.request.result)
            try settleDependents(of: job, item.context)
            results.append(.success(job))
        }
        return results
    }

    /// $1 the jobs, $2 their versions, $3 their results, $4 the time; each row a completed
    /// job and the jobs that waited for it.
    private static let completeTogetherStatement = """
        WITH changed AS (
            UPDATE docket_jobs SET state = 'completed', result = ($3::text[])[array_position($1::int8[], id)],
                                   lease_expires_at = NULL, version = version + 1, updated_at = $4::int8
            WHERE id = ANY($1::int8[]) AND version = ($2::int8[])[array_position($1::int8[], id)] AND state = 'running'
            RETURNING \(jobColumns)),
        freed AS (
            DELETE FROM docket_dependencies WHERE dependency = ANY(ARRAY(SELECT id FROM changed))
            RETURNING dependency, job)
        SELECT changed.*, (SELECT array_agg(job) FROM freed WHERE freed.dependency = changed.id) FROM changed
        """
}
