import DocketProtocol

extension PostgresJobStore: DependencySteps {
    public func takeReleased() -> ReleasedJobs {
        defer { released = ReleasedJobs() }
        return released
    }

    /// The dependencies' rows are share-locked until commit: one completing on another daemon
    /// meanwhile waits, and then finds this transaction's edges.
    func states(of ids: [Int64]) throws(StoreError) -> [Int64: JobState] {
        var states: [Int64: JobState] = [:]
        for row in try session.run("SELECT id, state FROM docket_jobs WHERE id = ANY($1::int8[]) FOR SHARE", [.intArray(ids)]) {
            let r = row.makeRandomAccess()
            states[r.int(0)] = StoredJob.wireState(r.text(1))
        }
        return states
    }

    func addEdges(job: Int64, dependencies: [Int64]) throws(StoreError) {
        try session.send(
            "INSERT INTO docket_dependencies (dependency, job) SELECT unnest($1::int8[]), $2 ON CONFLICT DO NOTHING",
            [.intArray(dependencies), .int(job)])
    }

    func takeDependents(of dependency: Int64) throws(StoreError) -> [Int64] {
        if let taken = takenDependents.removeValue(forKey: dependency) { return taken }
        return try session.run("DELETE FROM docket_dependencies WHERE dependency = $1 RETURNING job", [.int(dependency)]).map {
            $0.makeRandomAccess().int(0)
        }
    }

    func removeEdges(ofJobs jobs: [Int64]) throws(StoreError) {
        guard !jobs.isEmpty else { return }
        try session.send("DELETE FROM docket_dependencies WHERE job = ANY($1::int8[])", [.intArray(jobs)])
    }

    func block(_ job: Int64, waitingFor waiting: [Int64]) throws(StoreError) {
        try session.send("UPDATE docket_jobs SET waiting_for = $2, state = 'blocked' WHERE id = $1", [.int(job), .intArray(waiting)])
    }

    func release(_ jobs: [Int64], from dependency: Int64, _ context: ChangeContext) throws(StoreError) -> [Job] {
        latestNow = context.now
        try session.send(
            "UPDATE docket_jobs SET waiting_for = array_remove(waiting_for, $1) WHERE id = ANY($2::int8[]) AND state = 'blocked'",
            [.int(dependency), .intArray(jobs)])
        let eligible = try session.run(
            """
            UPDATE docket_jobs SET state = CASE WHEN run_at > $2 THEN 'scheduled' ELSE 'pending' END, waiting_for = NULL,
                                   run_at = greatest(run_at, $2), version = version + 1, updated_at = $2
            WHERE id = ANY($1::int8[]) AND state = 'blocked' AND cardinality(waiting_for) = 0
            RETURNING \(Self.jobColumns)
            """, [.intArray(jobs), .int(context.now)]
        ).map { Self.storedJob(row: $0.makeRandomAccess()).job }.sorted { $0.id < $1.id }
        for job in eligible { record(.dependenciesMet, job, context, data: nil) }
        return eligible
    }

    func cancelBlocked(_ jobs: [Int64], because dependency: Job, _ context: ChangeContext) throws(StoreError) -> [Job] {
        latestNow = context.now
        let error = Job.dependencyFailure(dependency)
        let cancelled = try session.run(
            """
            UPDATE docket_jobs SET state = 'cancelled', waiting_for = NULL, last_error = $3, version = version + 1, updated_at = $2
            WHERE id = ANY($1::int8[]) AND state = 'blocked'
            RETURNING \(Self.jobColumns)
            """, [.intArray(jobs), .int(context.now), .text(error.text)]
        ).map { Self.storedJob(row: $0.makeRandomAccess()).job }.sorted { $0.id < $1.id }
        for job in cancelled { record(.cancelled, job, context, data: error) }
        return cancelled
    }
}
