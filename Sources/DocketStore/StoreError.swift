import DocketProtocol

/// Why a store operation did not apply. Version conflicts carry the job's present so the
/// caller can tell its client exactly where the job is now.
public enum StoreError: Error, Sendable, Equatable {
    case jobNotFound(Int64)
    /// An enqueue named a job in `after` that does not exist.
    case dependencyNotFound(Int64)
    case staleVersion(JobReference, expected: Int64)
    case invalidState(JobReference, operation: String, allowed: [JobState])
    case scheduleNotFound(String)
    /// A schedule edit carried another version (0 for a create when the name is taken).
    case scheduleStale(ScheduleReference, expected: Int64)
    /// A `queue_put` carried another version than the queue settings' present one.
    case queueStale(QueueReference, expected: Int64)
    /// The request asks for something that cannot be done as asked (a backup over an existing
    /// file, say); retrying it unchanged fails again.
    case invalidRequest(String)
    /// SQLite failed; the operation was rolled back.
    case storage(String)
    /// A commit's flush to disk failed after its pages were written: whether the change is
    /// in the file, and comes back when the file is next opened, is unknown.
    case commitUnsettled(String)
    /// The file is not a Docket database, or is one from a newer Docket.
    case incompatibleDatabase(String)
    /// The database server cannot be reached; nothing of the transaction was applied.
    case unavailable(String)
    /// The connection was lost while the commit was under way: the transaction may or may
    /// not have been applied.
    case inDoubt(String)
    /// The transaction lost a race with another daemon's (a deadlock or serialization
    /// failure) and was rolled back whole; running it again is safe.
    case conflict(String)

    /// A refusal of the request as asked (not found, stale, wrong state, bad request). The
    /// store decides these before it writes anything, so a refused change leaves the
    /// transaction exactly as it was; any other error may leave it half-done.
    public var isRefusal: Bool {
        switch self {
        case .jobNotFound, .dependencyNotFound, .staleVersion, .invalidState, .scheduleNotFound, .scheduleStale, .queueStale, .invalidRequest:
            return true
        case .storage, .commitUnsettled, .incompatibleDatabase, .unavailable, .inDoubt, .conflict: return false
        }
    }

    /// The contract's error answer for this failure.
    public var protocolError: ProtocolError {
        switch self {
        case .jobNotFound(let id):
            return ProtocolError(.notFound, "no job with id \(id)")
        case .dependencyNotFound(let id):
            return ProtocolError(.notFound, "'after' names job \(id), which does not exist; nothing was enqueued")
        case .staleVersion(let job, let expected):
            return ProtocolError(
                .staleVersion,
                "job \(job.id) is at version \(job.version) (\(job.state.rawValue)), not \(expected); "
                    + "get the job again before changing it",
                job: job)
        case .invalidState(let job, let operation, let allowed):
            let states = allowed.map(\.rawValue).joined(separator: " or ")
            return ProtocolError(
                .invalidState, "cannot \(operation) job \(job.id): it is \(job.state.rawValue), and \(operation) needs \(states)",
                job: job)
        case .scheduleNotFound(let name):
            return ProtocolError(.notFound, "no schedule named \"\(name)\"")
        case .scheduleStale(let schedule, let expected):
            let message =
                expected == 0
                ? "a schedule named \"\(schedule.name)\" already exists (version \(schedule.version)); edit it with that version"
                : "schedule \"\(schedule.name)\" is at version \(schedule.version), not \(expected); get it again before changing it"
            return ProtocolError(.staleVersion, message, schedule: schedule)
        case .queueStale(let queue, let expected):
            let message =
                expected == 0
                ? "queue \"\(queue.name)\" already has settings (version \(queue.version)); change them with that version"
                : "queue \"\(queue.name)\" settings are at version \(queue.version), not \(expected); get them again before changing them"
            return ProtocolError(.staleVersion, message, queue: queue)
        case .invalidRequest(let message):
            return ProtocolError(.badRequest, message)
        case .storage(let message):
            return ProtocolError(.internal, "storage failure, the request was not applied: \(message)")
        case .commitUnsettled(let message):
            return ProtocolError(.internal, "storage failure, whether the request was applied is unknown: \(message)")
        case .incompatibleDatabase(let message):
            return ProtocolError(.internal, message)
        case .unavailable(let message):
            return ProtocolError(.unavailable, "the store cannot be reached, the request was not applied; retry later: \(message)")
        case .inDoubt(let message):
            return ProtocolError(
                .inDoubt,
                "the store was lost while the change was being committed, so it may or may not have been applied; "
                    + "get the job again before retrying: \(message)")
        case .conflict(let message):
            return ProtocolError(.internal, "the transaction lost a race with another daemon and was not applied; retry: \(message)")
        }
    }
}
