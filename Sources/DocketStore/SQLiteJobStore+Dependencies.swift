import DocketProtocol

extension SQLiteJobStore: DependencySteps {
    /// Each job of the `jobs` form as `enqueue`, after checking that every job its items name
    /// in `after` exists: an unknown one refuses the whole batch before anything is written.
    public func enqueue(all requests: [EnqueueRequest], _ context: ChangeContext) throws(StoreError) -> [(job: Job, created: Bool)] {
        let states = try dependencyStates(requests)
        var results: [(job: Job, created: Bool)] = []
        results.reserveCapacity(requests.count)
        for request in requests { results.append(try enqueue(request.resolvingAfterIndex(results), dependencies: states, context)) }
        return results
    }

    public func takeReleased() -> ReleasedJobs {
        defer { released = ReleasedJobs() }
        return released
    }

    func states(of ids: [Int64]) throws(StoreError) -> [Int64: JobState] {
        let statement = try db.prepare("SELECT state FROM jobs WHERE id = ?1")
        var states: [Int64: JobState] = [:]
        for id in ids {
            statement.reset()
            statement.bind(1, id)
            if try statement.step() { states[id] = StoredJob.wireState(statement.text(0)) }
        }
        statement.reset()
        return states
    }

    func addEdges(job: Int64, dependencies: [Int64]) throws(StoreError) {
        let insert = try db.prepare("INSERT OR IGNORE INTO dependencies (dependency, job) VALUES (?1, ?2)")
        for dependency in dependencies { try insert.run([.int(dependency), .int(job)]) }
    }

    func takeDependents(of dependency: Int64) throws(StoreError) -> [Int64] {
        let select = try db.prepare("SELECT job FROM dependencies WHERE dependency = ?1")
        select.bind(1, dependency)
        var jobs: [Int64] = []
        while try select.step() { jobs.append(select.int(0)) }
        select.reset()
        if !jobs.isEmpty { try db.prepare("DELETE FROM dependencies WHERE dependency = ?1").run([.int(dependency)]) }
        return jobs
    }

    func removeEdges(ofJobs jobs: [Int64]) throws(StoreError) {
        let delete = try db.prepare("DELETE FROM dependencies WHERE job = ?1")
        for job in jobs { try delete.run([.int(job)]) }
    }

    func block(_ job: Int64, waitingFor waiting: [Int64]) throws(StoreError) {
        try db.prepare("UPDATE jobs SET waiting_for = ?2, state = 'blocked' WHERE id = ?1")
            .run([.int(job), .text(StoredJob.idsText(waiting) ?? "[]")])
    }

    func release(_ jobs: [Int64], from dependency: Int64, _ context: ChangeContext) throws(StoreError) -> [Job] {
        try changeBlocked(jobs) { dependent throws(StoreError) in
            let remaining = dependent.job.waitingFor.filter { $0 != dependency }
            guard remaining.isEmpty else {
                try db.prepare("UPDATE jobs SET waiting_for = ?2 WHERE id = ?1")
                    .run([.int(dependent.job.id), .text(StoredJob.idsText(remaining) ?? "[]")])
                return nil
            }
            let job = try guarded(
                JobVersion(job: dependent.job.id, version: dependent.job.version), operation: "release", from: ["blocked"],
                set: "state = CASE WHEN run_at > ?3 THEN 'scheduled' ELSE 'pending' END, run_at = max(run_at, ?3), waiting_for = NULL",
                context: context)
            try record(.dependenciesMet, job, context, data: nil)
            return job
        }
    }

    func cancelBlocked(_ jobs: [Int64], because dependency: Job, _ context: ChangeContext) throws(StoreError) -> [Job] {
        let error = Job.dependencyFailure(dependency)
        return try changeBlocked(jobs) { dependent throws(StoreError) in
            let job = try guarded(
                JobVersion(job: dependent.job.id, version: dependent.job.version), operation: "cancel", from: ["blocked"],
                set: "state = 'cancelled', waiting_for = NULL, last_error = ?4", context: context
            ) { statement in
                statement.bind(4, error.text)
            }
            try record(.cancelled, job, context, data: error)
            return job
        }
    }

    /// `change` applied to each job of `jobs` that still waits (the others were cancelled or
    /// released meanwhile), and the jobs it changed.
    private func changeBlocked(_ jobs: [Int64], _ change: (StoredJob) throws(StoreError) -> Job?) throws(StoreError) -> [Job] {
        var changed: [Job] = []
        for id in jobs {
            guard let dependent = try storedJob(id), dependent.storedState == "blocked" else { continue }
            if let job = try change(dependent) { changed.append(job) }
        }
        return changed
    }
}
