import PostgresNIO

/// Queue lag: each queue's oldest `run_at` among its eligible (stored `pending`) jobs.
///
/// The claim index (`queue, priority, run_at, id` over pending jobs) holds the answer for each
/// (queue, priority) group in the group's first entry, so the read walks the index one group
/// at a time, an index seek each, instead of reading every pending job: a million pending jobs
/// in a handful of priorities cost a handful of seeks. Past `maxGroups` groups (priorities
/// used as timestamps, say) seeks would cost more than a scan, and the read falls back to one
/// aggregate over the pending jobs.
enum OldestEligible {
    static let maxGroups = 256

    /// The oldest `run_at` of each queue, from (queue, run_at) rows that may repeat a queue.
    static func fold(_ rows: some Sequence<(queue: String, runAt: Int64)>) -> [String: Int64] {
        var oldest: [String: Int64] = [:]
        for (queue, runAt) in rows { oldest[queue] = min(oldest[queue] ?? runAt, runAt) }
        return oldest
    }
}

extension SQLiteJobReader {
    public func oldestEligible() throws(StoreError) -> [String: Int64] {
        // In process a seek costs microseconds, so one statement per group is fine here.
        let first = try db.prepare(
            "SELECT queue, priority, run_at FROM jobs WHERE state = 'pending' ORDER BY queue, priority, run_at LIMIT 1")
        let next = try db.prepare(
            """
            SELECT queue, priority, run_at FROM jobs WHERE state = 'pending' AND (queue, priority) > (?1, ?2) \
            ORDER BY queue, priority, run_at LIMIT 1
            """)
        defer {
            first.reset()
            next.reset()
        }
        var groups: [(queue: String, runAt: Int64)] = []
        var statement = first
        while try statement.step() {
            let (queue, priority) = (statement.text(0), statement.int(1))
            groups.append((queue, statement.int(2)))
            guard groups.count < OldestEligible.maxGroups else { return try scanOldestEligible() }
            statement.reset()
            next.bind(1, queue)
            next.bind(2, priority)
            statement = next
        }
        return OldestEligible.fold(groups)
    }

    private func scanOldestEligible() throws(StoreError) -> [String: Int64] {
        let statement = try db.prepare("SELECT queue, min(run_at) FROM jobs WHERE state = 'pending' GROUP BY queue")
        defer { statement.reset() }
        var rows: [(queue: String, runAt: Int64)] = []
        while try statement.step() { rows.append((statement.text(0), statement.int(1))) }
        return OldestEligible.fold(rows)
    }
}

extension PostgresJobReader {
    public func oldestEligible() throws(StoreError) -> [String: Int64] {
        // Each statement is a round trip here, so the walk is one recursive query; the outer
        // LIMIT stops the recursion once it has one group more than the walk may take.
        let walk = try session.run(
            """
            WITH RECURSIVE groups AS (
                (SELECT queue, priority, run_at FROM docket_jobs WHERE state = 'pending'
                 ORDER BY queue, priority, run_at LIMIT 1)
                UNION ALL
                SELECT next.queue, next.priority, next.run_at FROM groups g CROSS JOIN LATERAL
                    (SELECT queue, priority, run_at FROM docket_jobs
                     WHERE state = 'pending' AND (queue, priority) > (g.queue, g.priority)
                     ORDER BY queue, priority, run_at LIMIT 1) next
            )
            SELECT queue, run_at FROM groups LIMIT \(OldestEligible.maxGroups + 1)
            """)
        let rows = walk.count > OldestEligible.maxGroups
            ? try session.run("SELECT queue, min(run_at) FROM docket_jobs WHERE state = 'pending' GROUP BY queue")
            : walk
        return OldestEligible.fold(rows.map { row in
            let r = row.makeRandomAccess()
            return (r.text(0), r.int(1))
        })
    }
}
