import DocketProtocol

/// Who caused a change, recorded on the events it makes.
public struct ChangeContext: Sendable {
    /// The time of the change, milliseconds since the Unix epoch.
    public var now: Int64
    /// The connected peer (`pid@uid`), when there is one.
    public var peer: String?

    public init(now: Int64, peer: String? = nil) {
        self.now = now
        self.peer = peer
    }
}

/// The write side of a storage backend: every state transition of a job.
///
/// One writer owns a `JobStore` and calls it from one thread. Each transition is a single
/// guarded change that applies whole or throws `StoreError` saying why not, and appends the
/// job's event in the same transaction. The server groups many transitions into one
/// transaction (`begin`/`commit`). A refusal (`StoreError.isRefusal`) is thrown before the
/// transition writes anything, so the batch goes on without it; after any other error the
/// server rolls the whole batch back. (A savepoint per request did the same job and cost a
/// copy of every page a request touched into the statement journal.) A second backend
/// implements this protocol and `JobReader`; the server does not change.
public protocol JobStore: JobReader {
    func begin() throws(StoreError)
    /// Commits and returns the events the transaction stored, in `seq` order.
    @discardableResult
    func commit() throws(StoreError) -> [JobEvent]
    func rollback()
    /// Inserts a job, or returns the stored one with `created: false` when its queue already
    /// holds a job with the same `unique_key`.
    func enqueue(_ request: EnqueueRequest, _ context: ChangeContext) throws(StoreError) -> (job: Job, created: Bool)
    /// Enqueues several jobs in order, as `enqueue` each (the `jobs` form of the op).
    func enqueue(all requests: [EnqueueRequest], _ context: ChangeContext) throws(StoreError) -> [(job: Job, created: Bool)]
    /// Takes the best eligible job of the queues (lowest priority, earliest run_at, lowest id)
    /// that the queues' settings let through, or says why there is none.
    func claim(_ request: ClaimRequest, worker: String?, _ context: ChangeContext) throws(StoreError) -> ClaimOutcome
    /// Claims of the same queues from several clients, as `claim` each in order.
    func claim(together items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome]
    /// Requests of several clients by kind, as each applied alone in the batch's order (see
    /// `JobStore+Together`).
    func apply(together batch: TogetherBatch) throws(StoreError) -> TogetherResults
    func progress(_ request: ProgressRequest, _ context: ChangeContext) throws(StoreError) -> Job
    func complete(_ request: CompleteRequest, _ context: ChangeContext) throws(StoreError) -> Job
    /// `jitter` in [-1, 1] scales the ±10% jitter of the backoff; injected so tests are exact.
    func fail(_ request: FailRequest, jitter: Double, _ context: ChangeContext) throws(StoreError) -> Job
    func cancel(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job
    func retry(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job
    /// Appends to a running job's log (a `log` event; the version stays), dropping its oldest
    /// log events past `LogRequest.maxBytesPerJob`.
    func appendLog(_ request: LogRequest, _ context: ChangeContext) throws(StoreError) -> Job
    /// A running job back to `pending` after the delay, its attempt not counted.
    func snooze(_ request: SnoozeRequest, _ context: ChangeContext) throws(StoreError) -> Job
    /// Ends the attempts that ran past their `timeout_ms` as a `fail` with `{"code":
    /// "timeout"}` would (each with a `timed_out` event); `jitter` gives each backoff's.
    func timeOutAttempts(jitter: () -> Double, _ context: ChangeContext) throws(StoreError) -> [Job]
    /// Puts a job claimed at `fence` back to `pending` because its claimant vanished before it
    /// learnt of the claim; the attempt does not count.
    func release(_ fence: JobVersion, _ context: ChangeContext) throws(StoreError) -> Job

    /// Makes delayed jobs whose `run_at` has come eligible; returns the queues that gained jobs.
    func promoteDueJobs(_ context: ChangeContext) throws(StoreError) -> Set<String>
    /// Ends the leases that have passed: back to `pending` while attempts remain, else `failed`.
    func expireLeases(_ context: ChangeContext) throws(StoreError) -> [Job]
    /// Creates (version 0) or edits (the current version) a schedule.
    func putSchedule(_ request: SchedulePutRequest, _ context: ChangeContext) throws(StoreError) -> Schedule
    func deleteSchedule(_ request: ScheduleDeleteRequest) throws(StoreError)
    /// Creates (version 0) or changes (the current version) a queue's settings.
    func putQueue(_ request: QueuePutRequest, _ context: ChangeContext) throws(StoreError) -> QueueSettings
    /// Enqueues one job for each active schedule whose slot has come (unique per slot) and
    /// moves it to its next slot after now, so slots missed while down fire once. Returns the
    /// queues that gained jobs.
    func fireDueSchedules(_ context: ChangeContext) throws(StoreError) -> Set<String>

    /// Deletes up to `limit` finished jobs in `state` last changed at or before `cutoff`, with their
    /// events; returns how many went. Retention calls it in small batches.
    func pruneFinished(_ state: JobState, changedBefore cutoff: Int64, limit: Int) throws(StoreError) -> Int
    /// When the oldest job in a finished state last changed (the next to be pruned).
    func oldestFinished(_ state: JobState) throws(StoreError) -> Int64?
    /// The `purge` op: deletes finished jobs matching the request, with their events.
    func purge(_ request: PurgeRequest) throws(StoreError) -> Int64
    /// Returns up to `pages` free pages to the file system (incremental vacuum).
    func reclaimSpace(pages: Int) throws(StoreError)

    /// The earliest future moment at which a delayed job becomes due, a lease passes or a
    /// schedule fires.
    func nextDeadline() throws(StoreError) -> Int64?

    /// A new read-only view for another thread, seeing committed data only.
    func makeReader() throws(StoreError) -> any JobReader
    /// The jobs that became eligible, or will at their `run_at`, because their dependencies
    /// completed, since the last call (the returned jobs' queues aside).
    func takeReleased() -> ReleasedJobs
}

/// The read side: lookups that never wait for the writer.
public protocol JobReader: AnyObject {
    /// Runs several reads against one snapshot (a job and its events, say), so no commit can
    /// fall between them.
    func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T
    func job(_ id: Int64) throws(StoreError) -> Job?
    func events(ofJob id: Int64) throws(StoreError) -> [JobEvent]
    func list(_ request: ListRequest) throws(StoreError) -> (jobs: [Job], next: Int64?)
    /// Job counts by queue and state, queues in name order.
    func counts() throws(StoreError) -> [(queue: String, counts: [(state: JobState, count: Int64)])]
    /// Each queue's oldest `run_at` among its eligible pending jobs (queue lag); see `OldestEligible`.
    func oldestEligible() throws(StoreError) -> [String: Int64]
    /// Stored events after `seq` that match `scope`, oldest first, at most `limit`.
    func events(after seq: Int64, scope: WatchScope, limit: Int) throws(StoreError) -> [JobEvent]
    /// The newest event's seq (0 when there is none).
    func latestEventSeq() throws(StoreError) -> Int64
    func schedule(named name: String) throws(StoreError) -> Schedule?
    /// Every schedule, by name.
    func schedules() throws(StoreError) -> [Schedule]
    /// How many bytes of the job's oldest log were dropped to keep it under the cap.
    func logDroppedBytes(ofJob id: Int64) throws(StoreError) -> Int64
    /// The stored settings of one queue (`named`) or of every queue that has some, by name.
    func queueSettings(named: String?) throws(StoreError) -> [QueueSettings]
}

extension JobReader {
    /// Queues with their settings and counts: one (`named`, which need not exist yet), or
    /// every queue that has jobs or settings, by name.
    public func queues(named name: String?) throws(StoreError) -> [QueueInfo] {
        try snapshot { () throws(StoreError) -> [QueueInfo] in try queuesAsSeen(named: name) }
    }

    /// `queues(named:)` within the transaction or snapshot already open (the writer's).
    public func queuesAsSeen(named name: String?) throws(StoreError) -> [QueueInfo] {
        var settings: [String: QueueSettings] = [:]
        for stored in try queueSettings(named: name) { settings[stored.name] = stored }
        var counts: [String: [JobState: Int64]] = [:]
        for entry in try self.counts() where name == nil || entry.queue == name {
            counts[entry.queue] = Dictionary(uniqueKeysWithValues: entry.counts.map { ($0.state, $0.count) })
        }
        let names = name.map { [$0] } ?? Set(settings.keys).union(counts.keys).sorted()
        return names.map { QueueInfo(settings: settings[$0] ?? QueueSettings(name: $0), counts: counts[$0] ?? [:]) }
    }
}

extension PurgeRequest {
    /// The `SELECT id …` of the jobs this purge deletes, for either backend: `placeholder(n)`
    /// spells the n-th parameter, and the values come in that order.
    func selection(from table: String, placeholder: (Int) -> String) -> (sql: String, values: [SQLValue]) {
        let chosen = states.isEmpty ? JobState.allCases.filter(\.isFinal) : states
        var conditions = ["state IN (\(chosen.map { "'\($0.rawValue)'" }.joined(separator: ", ")))"]
        var values: [SQLValue] = []
        if let queue {
            values.append(.text(queue))
            conditions.append("queue = \(placeholder(values.count))")
        }
        if let before {
            values.append(.int(before))
            conditions.append("updated_at < \(placeholder(values.count))")
        }
        values.append(.int(limit))
        let sql = "SELECT id FROM \(table) WHERE \(conditions.joined(separator: " AND ")) ORDER BY id LIMIT \(placeholder(values.count))"
        return (sql, values)
    }
}

/// How long a failed job waits before its next attempt.
public enum Backoff {
    /// `min(maximum, initial · 2^(attempt-1))`, moved by up to ±10% as `jitter` goes from -1 to 1,
    /// and never past `maximum`: the maximum is a promise to the operator.
    public static func delay(attempt: Int64, initial: Int64, maximum: Int64, jitter: Double) -> Int64 {
        let exponent = max(0, min(attempt - 1, 62))
        let doubled = initial.multipliedReportingOverflow(by: Int64(1) << exponent)
        let base = doubled.overflow ? maximum : min(maximum, doubled.partialValue)
        let moved = Double(base) * (1 + 0.1 * max(-1, min(1, jitter)))
        return max(0, min(maximum, Int64(moved.rounded())))
    }
}
