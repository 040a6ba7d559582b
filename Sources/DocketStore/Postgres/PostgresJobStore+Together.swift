import DocketProtocol
import NIOCore
import PostgresNIO

/// Requests of several clients, each group one statement instead of one per request, and all
/// of a batch's groups sent before any answer is waited for: every wait costs the writer a
/// round trip to PostgreSQL, and a batch's time was the sum of them. Rows are found by
/// primary key through arrays (`id = ANY(…)`), never by a join, whose plan would depend on
/// statistics taken while the table was small.
extension PostgresJobStore {
    public func claim(together items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome] {
        guard !items.isEmpty else { return [] }
        if let outcomes = try claimInOneStatement(items) { return outcomes }
        return try claimEach(items)
    }

    /// The claims' outcomes from `claimStatement` alone; nil when a queue has settings to
    /// obey, which the claims then go through one by one.
    func claimInOneStatement(_ items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome]? {
        takenJobs(items, try session.answers([try sendClaims(items)])[0])
    }

    /// The groups go out in order, one after another without waiting: the claims see the
    /// jobs inserted before them, as they would one by one. What a group could not settle in
    /// its statement (a queue with settings to obey, a completion refused) is settled alone
    /// once every answer is in.
    public func apply(together batch: TogetherBatch) throws(StoreError) -> TogetherResults {
        guard let now = batch.now else { return TogetherResults() }
        latestNow = now
        let requests = batch.enqueues.map(\.request)
        let inserted = requests.isEmpty ? nil : try sendInsert(requests, now: now, states: [:])
        var claims: [EventLoopFuture<[PostgresRow]>] = []
        for group in batch.claims { claims.append(try sendClaims(group)) }
        let ids = batch.completes.map(\.request.fence.job)
        // A job named twice goes one by one: the second must see the first's change.
        let completed = ids.isEmpty || Set(ids).count < ids.count ? nil : try sendCompletes(batch.completes)
        let answers = try session.answers([inserted, completed].compactMap { $0 } + claims)
        var results = TogetherResults()
        if inserted != nil {
            results.enqueued = try insertedJobs(answers[0], count: requests.count)
            for (job, item) in zip(results.enqueued, batch.enqueues) { record(.enqueued, job, item.context, data: nil) }
        }
        let taken = zip(batch.claims, answers.suffix(claims.count)).map { takenJobs($0, $1) }
        results.completed =
            completed == nil
            ? try completeEach(batch.completes)
            : try completions(batch.completes, answers[inserted == nil ? 0 : 1])
        // Claims held back by queue settings go last, as they ran last: their events must not
        // show a claim before the completion that made room for it.
        for (group, outcomes) in zip(batch.claims, taken) {
            if let outcomes { results.claimed.append(outcomes) } else { results.claimed.append(try claimEach(group)) }
        }
        return results
    }

    private func sendClaims(_ items: [ClaimItem]) throws(StoreError) -> EventLoopFuture<[PostgresRow]> {
        let first = items[0]
        let queues = first.request.queues
        return try session.send(
            Self.claimStatement(queues: queues.count),
            [
                .intArray(items.map(\.request.leaseMs)), .int(first.context.now), .optionalTextArray(items.map(\.worker)),
                queues.count == 1 ? .text(queues[0]) : .textArray(queues), .int(Int64(items.count)),
            ])
    }

    /// The jobs a claim statement took, in claim order, with their events; nil when a queue
    /// has settings to obey, so it took nothing.
    private func takenJobs(_ items: [ClaimItem], _ answer: [PostgresRow]) -> [ClaimOutcome]? {
        let rows = answer.map { $0.makeRandomAccess() }
        if rows.first?.bool(Self.jobColumnCount + 1) == true { return nil }
        var outcomes = Array(repeating: ClaimOutcome(job: nil), count: items.count)
        for row in rows where row.optionalInt(0) != nil {
            let index = Int(row.int(Self.jobColumnCount)) - 1
            let job = Self.storedJob(row: row).job
            recordClaimed(job, worker: items[index].worker, items[index].context)
            outcomes[index] = ClaimOutcome(job: job)
        }
        return outcomes
    }

    /// The claim, of one client or of several: the best pending jobs of the queues that no
    /// other transaction holds, taken in the same statement, when none of the queues has
    /// settings to obey (then `LimitedClaimSteps` takes over, and the statement takes
    /// nothing). $1 the claims' leases, $2 the time, $3 their workers, $4 the queues, $5 how
    /// many claims. Its rows are the jobs taken, each with the position of its claim and the
    /// flag saying whether a queue has settings to obey; one row of NULLs and the flag when
    /// none was. One queue (the usual claim) walks its range of docket_jobs_ready from the
    /// start; delayed jobs are `scheduled`, outside that index. The update finds its rows by
    /// primary key whatever the statistics say: joined to the candidates instead, the generic
    /// plan, made while the table was small, walked the whole ready index on every claim
    /// (1,666 entries for one row in a sampled run).
    static func claimStatement(queues: Int) -> String {
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

    /// One guarded update for every completion, of distinct jobs.
    private func sendCompletes(_ items: [(request: CompleteRequest, context: ChangeContext)]) throws(StoreError)
        -> EventLoopFuture<[PostgresRow]>
    {
        try session.send(
            Self.completeTogetherStatement,
            [
                .intArray(items.map(\.request.fence.job)), .intArray(items.map(\.request.fence.version)),
                .optionalTextArray(items.map { $0.request.result.isNull ? nil : $0.request.result.text }),
                .int(items[0].context.now), .textArray(["running"]),
            ])
    }

    /// Each completion's job; those the update did not change (a stale version, a job no
    /// longer running, one another daemon held) go through `complete` alone, which says why.
    private func completions(_ items: [(request: CompleteRequest, context: ChangeContext)], _ rows: [PostgresRow])
        throws(StoreError) -> [Result<Job, StoreError>]
    {
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

    /// $1 the jobs, $2 their versions, $3 their results, $4 the time, $5 the states a job
    /// may be completed from; each row a completed job and the jobs that waited for it. The
    /// states are a parameter, not written in, so that the plan PostgreSQL keeps for the
    /// statement cannot use an index of running jobs (`state = 'running'` matches several)
    /// and read every running job to find a few: only the primary key serves `id = ANY`.
    static let completeTogetherStatement = """
        WITH changed AS (
            UPDATE docket_jobs SET state = 'completed', result = ($3::text[])[array_position($1::int8[], id)],
                                   lease_expires_at = NULL, version = version + 1, updated_at = $4::int8
            WHERE id = ANY($1::int8[]) AND version = ($2::int8[])[array_position($1::int8[], id)]
              AND state = ANY($5::text[])
            RETURNING \(jobColumns)),
        freed AS (
            DELETE FROM docket_dependencies WHERE dependency = ANY(ARRAY(SELECT id FROM changed))
            RETURNING dependency, job)
        SELECT changed.*, (SELECT array_agg(job) FROM freed WHERE freed.dependency = changed.id) FROM changed
        """
}
