import DocketProtocol

/// The steps of job dependencies that each backend spells in its own SQL; the extension puts
/// them together the same way for every backend. Edges are kept only while a job waits: one
/// row per (dependency, waiting job), found from the dependency's side when it ends. The
/// steps work on sets, so a job with 10,000 dependents releases them in a few statements.
protocol DependencySteps: AnyObject {
    /// The wire states of the stored jobs among `ids`, held until commit where other daemons
    /// could change them (a completion then waits, and finds this transaction's edges).
    func states(of ids: [Int64]) throws(StoreError) -> [Int64: JobState]
    func storedJob(_ id: Int64) throws(StoreError) -> StoredJob?
    func addEdges(job: Int64, dependencies: [Int64]) throws(StoreError)
    /// Removes the edges into `dependency` and returns the jobs they came from.
    func takeDependents(of dependency: Int64) throws(StoreError) -> [Int64]
    /// A failed job's edges, when it is cancelled while it waits.
    func removeEdges(ofJobs jobs: [Int64]) throws(StoreError)
    /// Makes a job wait for `waiting` again (a retry).
    func block(_ job: Int64, waitingFor waiting: [Int64]) throws(StoreError)
    /// `dependency` completed: the blocked jobs among `jobs` stop waiting for it, and those
    /// left waiting for nothing become eligible (version + 1, `dependencies_met`), returned.
    /// Their `run_at` becomes now unless it is still ahead: `run_at` says when a job became
    /// eligible, which queue lag, the wait histogram and claim order read on every daemon.
    func release(_ jobs: [Int64], from dependency: Int64, _ context: ChangeContext) throws(StoreError) -> [Job]
    /// `dependency` failed or was cancelled: the blocked jobs among `jobs` are cancelled
    /// (version + 1, `last_error` naming it), returned.
    func cancelBlocked(_ jobs: [Int64], because dependency: Job, _ context: ChangeContext) throws(StoreError) -> [Job]
    /// What the transaction's completions released, for the coordinator.
    var released: ReleasedJobs { get set }
}

/// Jobs whose last dependency completed: where they became eligible, and when those with a
/// `run_at` still ahead become due (a deadline the coordinator must know of).
public struct ReleasedJobs: Sendable, Equatable {
    public var queues: Set<String> = []
    public var earliestRunAt: Int64?

    mutating func note(_ job: Job, now: Int64) {
        if job.runAt <= now { queues.insert(job.queue) } else { earliestRunAt = min(earliestRunAt ?? job.runAt, job.runAt) }
    }
}

extension EnqueueRequest {
    /// The request with `after_index` turned into the ids the earlier items of its batch got.
    func resolvingAfterIndex(_ earlier: [(job: Job, created: Bool)]) -> EnqueueRequest {
        guard !afterIndex.isEmpty else { return self }
        var resolved = self
        for index in afterIndex where !resolved.after.contains(earlier[index].job.id) { resolved.after.append(earlier[index].job.id) }
        resolved.afterIndex = []
        return resolved
    }
}

extension DependencySteps {
    /// The states of every job the batch names in `after`, read (and held) once; refuses the
    /// batch, before anything is written, when one does not exist.
    func dependencyStates(_ requests: [EnqueueRequest]) throws(StoreError) -> [Int64: JobState] {
        let named = Array(Set(requests.flatMap(\.after)))
        guard !named.isEmpty else { return [:] }
        let states = try states(of: named)
        if let missing = named.filter({ states[$0] == nil }).min() { throw .dependencyNotFound(missing) }
        return states
    }

    /// Reads the states of those of `after` not in `states` yet: jobs of the same batch
    /// named by `after_index`, just enqueued or, through a `unique_key`, found stored.
    func addStates(of after: [Int64], to states: inout [Int64: JobState]) throws(StoreError) {
        let unknown = after.filter { states[$0] == nil }
        guard !unknown.isEmpty else { return }
        states.merge(try self.states(of: unknown)) { $1 }
    }

    /// Those of `after` not completed yet, by `states`.
    func waitingList(_ after: [Int64], _ states: [Int64: JobState]) -> [Int64] {
        after.filter { states[$0] != .completed }
    }

    /// After inserting a blocked `job`: its edges, or its cancellation when a dependency has
    /// already failed or been cancelled.
    func settleNewJob(_ job: Job, _ states: [Int64: JobState], _ context: ChangeContext) throws(StoreError) -> Job {
        guard !job.waitingFor.isEmpty else { return job }
        if let failed = job.waitingFor.first(where: { states[$0] == .failed || states[$0] == .cancelled }),
            let dependency = try storedJob(failed)?.job
        {
            return try cancelBlocked([job.id], because: dependency, context).first ?? job
        }
        try addEdges(job: job.id, dependencies: job.waitingFor)
        return job
    }

    /// A retried job waits again for what is still not completed.
    func settleRetriedJob(_ job: Job) throws(StoreError) -> Job {
        guard !job.after.isEmpty else { return job }
        let waiting = waitingList(job.after, try states(of: job.after))
        guard !waiting.isEmpty else { return job }
        try addEdges(job: job.id, dependencies: waiting)
        try block(job.id, waitingFor: waiting)
        return try storedJob(job.id)?.job ?? job
    }

    /// `job` has just ended: its waiting dependents wait for one job less (and become
    /// eligible when none is left), or, when it did not complete, are cancelled, and theirs
    /// after them, all in this transaction.
    func settleDependents(of job: Job, _ context: ChangeContext) throws(StoreError) {
        guard job.state.isFinal else { return }
        var ended = [job]
        while let finished = ended.popLast() {
            let dependents = try takeDependents(of: finished.id)
            guard !dependents.isEmpty else { continue }
            if finished.state == .completed {
                for eligible in try release(dependents, from: finished.id, context) { released.note(eligible, now: context.now) }
            } else {
                let cancelled = try cancelBlocked(dependents, because: finished, context)
                try removeEdges(ofJobs: cancelled.map(\.id))
                ended += cancelled
            }
        }
    }
}

extension Job {
    /// The `last_error` of a job cancelled because `dependency` ended without completing.
    static func dependencyFailure(_ dependency: Job) -> RawJSON {
        RawJSON([
            "code": "dependency_failed", "job": .int(dependency.id), "state": .string(dependency.state.rawValue),
            "message": .string("job \(dependency.id), which this job waits for, is \(dependency.state.rawValue)"),
        ])
    }
}
