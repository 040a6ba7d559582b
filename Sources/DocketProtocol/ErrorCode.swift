/// The error codes of the contract. Add codes, never rename them.
public enum ErrorCode: String, Sendable, Equatable, CaseIterable {
    /// Not JSON, not an object, a field missing, of the wrong type or out of range.
    case badRequest = "bad_request"
    case unknownOp = "unknown_op"
    case notFound = "not_found"
    /// The request's `version` is not the job's; `error.job` tells the present one.
    case staleVersion = "stale_version"
    /// The version matches but the op is not allowed in the job's state.
    case invalidState = "invalid_state"
    /// The line is over `max_line_bytes`; the connection is closed after the reply.
    case tooLarge = "too_large"
    /// The peer is not allowed; the connection is closed after the reply.
    case forbidden
    case shuttingDown = "shutting_down"
    /// Storage failed; the request was not applied.
    case `internal`
    /// A `watch` fell too far behind; the connection is closed after this line. Watch again
    /// with `since` set to the error's `seq` to resume without a gap.
    case watchOverflow = "watch_overflow"
    /// The store (a PostgreSQL server) cannot be reached now; the request was not applied.
    case unavailable
    /// The store was lost while the change was being committed: it may or may not have been
    /// applied. Read the job again before retrying.
    case inDoubt = "in_doubt"
}

/// An error answer: a code, a sentence for people, and for version conflicts the job's present.
public struct ProtocolError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public var job: JobReference?
    /// For schedule edits refused with `stale_version`: the schedule's present version.
    public var schedule: ScheduleReference?
    /// For `queue_put` refused with `stale_version`: the settings' present version.
    public var queue: QueueReference?
    /// For `watch_overflow`: the last event seq delivered, to resume from.
    public var seq: Int64?

    public init(
        _ code: ErrorCode, _ message: String, job: JobReference? = nil, schedule: ScheduleReference? = nil,
        queue: QueueReference? = nil
    ) {
        self.code = code
        self.message = message
        self.job = job
        self.schedule = schedule
        self.queue = queue
    }

    public static func badRequest(_ message: String) -> ProtocolError { ProtocolError(.badRequest, message) }
}
