import DocketProtocol

/// A request the daemon refused: the contract's error `code`, its sentence for people, and
/// for version conflicts where the job (or schedule) is now.
///
/// A refused request changed nothing. Match on ``code``:
///
/// ```swift
/// do {
///     job = try await client.complete(job: job.id, version: job.version, result: ["ok": true])
/// } catch let error as DocketError where error.code == .staleVersion {
///     // Lost the lease or the job was cancelled: drop it, someone else owns it now.
///     print("job is at version \(error.currentVersion!), \(error.currentState!)")
/// }
/// ```
public struct DocketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The code, or `nil` when a newer daemon sent one this client does not know (see ``rawCode``).
    public var code: ErrorCode?
    /// The code as the daemon wrote it.
    public var rawCode: String
    /// A sentence for people; it may change between releases, so never match on it.
    public var message: String
    /// For `stale_version` and `invalid_state` on a job: its present id, version and state.
    public var job: JobReference?
    /// For `stale_version` on a schedule: its present version.
    public var schedule: ScheduleReference?
    /// The `error` object as the daemon sent it, every member included (`queue`, `seq`, and
    /// any a newer daemon adds), for callers that pass it on; nil for an error made here.
    public var raw: JSONValue?

    public init(code: ErrorCode, message: String, job: JobReference? = nil, schedule: ScheduleReference? = nil) {
        self.code = code
        self.rawCode = code.rawValue
        self.message = message
        self.job = job
        self.schedule = schedule
    }

    /// Reads the `error` member of a failure answer.
    init(answer: JSONValue) {
        let error = answer["error"]
        rawCode = error?["code"]?.string ?? "internal"
        code = ErrorCode(rawValue: rawCode)
        message = error?["message"]?.string ?? "docketd refused the request without saying why"
        job = error?["job"].flatMap { try? JobReference(json: $0) }
        schedule = error?["schedule"].flatMap { try? ScheduleReference(json: $0) }
        raw = error
    }

    /// The version the job or schedule is at now, when the error says.
    public var currentVersion: Int64? { job?.version ?? schedule?.version }

    /// The job's state now, when the error says.
    public var currentState: JobState? { job?.state }

    public var description: String { "\(rawCode): \(message)" }
}
