import DocketProtocol

extension DocketClient {
    /// Introduces the client and returns the daemon's name, release and limits.
    ///
    /// - Throws: ``DocketClientError/unsupportedProtocol(_:)`` when the daemon does not speak protocol 1.
    public func hello(client name: String = "docket-swift") async throws -> ServerInfo {
        try ServerInfo(json: try await call(request("hello", ["client": .string(name)]), resend: .safe))
    }

    /// Checks that the daemon answers.
    public func ping() async throws {
        _ = try await call(["op": "ping"], resend: .safe)
    }

    /// Adds a job to a queue.
    ///
    /// - Parameters:
    ///   - payload: handed to the worker as given.
    ///   - priority: lower runs first.
    ///   - runAt: when the job becomes eligible (milliseconds since the epoch); `delay` instead counts from now.
    ///   - uniqueKey: a queue holds at most one job of a key, for ever: enqueueing it again
    ///     returns the stored job with `created: false`. This also makes the call safe to resend
    ///     after a lost answer, which the client then does.
    public func enqueue(
        queue: String, payload: JSONValue = .null, priority: Int64? = nil, runAt: Int64? = nil, delay: Duration? = nil,
        maxAttempts: Int64? = nil, backoff: Backoff? = nil, uniqueKey: String? = nil, concurrencyKey: String? = nil
    ) async throws -> EnqueueResult {
        try await enqueue(
            NewJob(
                queue: queue, payload: payload, priority: priority, runAt: runAt, delay: delay, maxAttempts: maxAttempts,
                backoff: backoff, uniqueKey: uniqueKey, concurrencyKey: concurrencyKey))
    }

    /// Adds one job described in full (a timeout, trace context, and the rest).
    public func enqueue(_ job: NewJob) async throws -> EnqueueResult {
        let answer = try await call(request("enqueue", job.members), resend: job.uniqueKey == nil ? .unsafe : .safe)
        return EnqueueResult(job: try Job(json: answer["job"] ?? .null), created: answer["created"] != false)
    }

    /// Adds up to 1000 jobs in one request and one transaction: all of them, or none when the
    /// daemon refuses any (the ``DocketError`` message names the item).
    ///
    /// - Returns: one result per job, in the order given.
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        let answer = try await call(
            request("enqueue", ["jobs": .array(jobs.map { request(nil, $0.members) })]),
            resend: jobs.allSatisfy { $0.uniqueKey != nil } ? .safe : .unsafe)
        let f = try JSONFields(answer, "enqueue")
        let created = try f.array("created")
        return try zip(f.array("jobs"), created).map { EnqueueResult(job: try Job(json: $0), created: $1 != false) }
    }

    /// Takes the best eligible job of the queues and leases it to this client.
    ///
    /// - Parameters:
    ///   - lease: how long the job stays ours without `progress`; the daemon's default is 30 s.
    ///   - wait: how long to wait for a job when none is eligible now; the default answers at once.
    ///   - worker: recorded as the job's `worker`; the daemon uses `pid@uid` when absent.
    /// - Returns: the job, now `running`, or `nil` when none became eligible within `wait`.
    public func claim(queues: [String], lease: Duration? = nil, wait: Duration? = nil, worker: String? = nil) async throws -> Job? {
        let target: (String, JSONValue) = queues.count == 1 ? ("queue", .string(queues[0])) : ("queues", .array(queues.map(JSONValue.string)))
        let answer = try await call(
            request(
                "claim",
                [
                    target.0: target.1, "lease_ms": lease.map { .int($0.wholeMilliseconds) },
                    "wait_ms": wait.map { .int($0.wholeMilliseconds) }, "worker": worker.map(JSONValue.string),
                ]),
            resend: .unsafe)
        guard let job = answer["job"], !job.isNull else { return nil }
        return try Job(json: job)
    }

    /// Reports progress and renews the lease.
    ///
    /// - Parameters:
    ///   - progress: stored as the job's `progress`; `nil` keeps the stored value (a pure
    ///     lease renewal), `.null` clears it.
    ///   - lease: the new lease from now; the claim's when absent.
    public func progress(job: Int64, version: Int64, progress: JSONValue? = nil, lease: Duration? = nil) async throws -> Job {
        try await changeJob(
            "progress", job: job, version: version, ["progress": progress, "lease_ms": lease.map { .int($0.wholeMilliseconds) }])
    }

    /// Reports progress and renews the lease like `progress`, and asks for a brief answer
    /// (`fields`): the job's id, new version and state, not its payload. For a worker that
    /// renews often on a job with a large payload.
    public func renew(job: Int64, version: Int64, progress: JSONValue? = nil, lease: Duration? = nil) async throws -> JobReference {
        let answer = try await call(
            request(
                "progress",
                [("job", .int(job)), ("version", .int(version)), ("progress", progress),
                 ("lease_ms", lease.map { .int($0.wholeMilliseconds) }), ("fields", ["state"])]),
            resend: .unsafe)
        return try JobReference(json: answer["job"] ?? .null)
    }

    /// Completes a running job with its result.
    public func complete(job: Int64, version: Int64, result: JSONValue = .null) async throws -> Job {
        try await changeJob("complete", job: job, version: version, ["result": result])
    }

    /// Fails a running job. While attempts remain and `retry` is true it goes back to
    /// `pending` after the backoff (or `retryIn`); otherwise it is `failed`.
    public func fail(job: Int64, version: Int64, error: JSONValue = .null, retry: Bool = true, retryIn: Duration? = nil) async throws -> Job {
        try await changeJob(
            "fail", job: job, version: version,
            ["error": error, "retry": .bool(retry), "retry_in_ms": retryIn.map { .int($0.wholeMilliseconds) }])
    }

    /// Cancels a pending or running job; its worker learns it at its next request.
    public func cancel(job: Int64, version: Int64) async throws -> Job {
        try await changeJob("cancel", job: job, version: version, [:])
    }

    /// Puts a running job back to pending for `delay`, its attempt not counted.
    public func snooze(job: Int64, version: Int64, delay: Duration) async throws -> Job {
        try await changeJob("snooze", job: job, version: version, ["delay_ms": .int(delay.wholeMilliseconds)])
    }

    /// Makes a failed or cancelled job pending again, with `attempt` back to 0.
    public func retry(job: Int64, version: Int64) async throws -> Job {
        try await changeJob("retry", job: job, version: version, [:])
    }

    /// Reads one job.
    public func get(job: Int64) async throws -> Job {
        try Job(json: try await call(request("get", ["job": .int(job)]), resend: .safe)["job"] ?? .null)
    }

    /// Reads one job and every event recorded for it.
    public func history(job: Int64) async throws -> JobHistory {
        let answer = try await call(request("get", ["job": .int(job), "events": true]), resend: .safe)
        let f = try JSONFields(answer, "get")
        return JobHistory(job: try Job(json: answer["job"] ?? .null), events: try f.array("events").map(JobEvent.init(json:)))
    }

    /// Reads one job, its events with its log, and how much of the oldest log was dropped.
    public func log(job: Int64) async throws -> (history: JobHistory, droppedBytes: Int64) {
        let answer = try await call(request("get", ["job": .int(job), "events": true, "logs": true]), resend: .safe)
        let f = try JSONFields(answer, "get")
        let history = JobHistory(job: try Job(json: answer["job"] ?? .null), events: try f.array("events").map(JobEvent.init(json:)))
        return (history, answer["log_dropped_bytes"]?.int64 ?? 0)
    }

    /// Appends text to a running job's log; the version must be the job's and does not change.
    public func log(job: Int64, version: Int64, text: String, stream: LogStream = .stdout) async throws {
        _ = try await call(
            request("log", ["job": .int(job), "version": .int(version), "data": .string(text), "stream": .string(stream.rawValue), "fields": []]),
            resend: .unsafe)
    }

    /// Reads one page of jobs in id order; pass the page's `next` as `after` for the next one.
    public func list(queue: String? = nil, state: JobState? = nil, limit: Int64? = nil, after: Int64? = nil) async throws -> JobPage {
        let answer = try await call(
            request(
                "list",
                [
                    "queue": queue.map(JSONValue.string), "state": state.map { .string($0.rawValue) },
                    "limit": limit.map(JSONValue.int), "after": after.map(JSONValue.int),
                ]),
            resend: .safe)
        let f = try JSONFields(answer, "list")
        return JobPage(jobs: try f.array("jobs").map(Job.init(json:)), next: answer["next"]?.int64)
    }

    /// Job counts by queue and state, connections, waiting claims and uptime.
    public func stats() async throws -> Statistics {
        try Statistics(json: try await call(["op": "stats"], resend: .safe))
    }

    /// Deletes finished jobs for good, with their events: at most `limit` (the daemon's
    /// default is 1000) of those matching every filter given, lowest id first.
    ///
    /// - Parameters:
    ///   - state: `completed`, `failed` or `cancelled`; live jobs are never purged.
    ///   - before: only jobs last changed before this time (milliseconds since the epoch).
    /// - Returns: how many jobs were deleted; purge again until it is 0 to delete them all.
    public func purge(queue: String? = nil, state: JobState? = nil, before: Int64? = nil, limit: Int64? = nil) async throws -> Int64 {
        let answer = try await call(
            request(
                "purge",
                [
                    "queue": queue.map(JSONValue.string), "state": state.map { .string($0.rawValue) },
                    "before": before.map { .string(Timestamp.format(milliseconds: $0)) }, "limit": limit.map(JSONValue.int),
                ]),
            resend: .unsafe)
        return try JSONFields(answer, "purge").int("purged")
    }

    /// Has the daemon write a consistent copy of its database to a new file at `path`
    /// (absolute, in the daemon's view of the file system).
    ///
    /// - Returns: the size of the copy in bytes.
    public func backup(path: String) async throws -> Int64 {
        try JSONFields(try await call(request("backup", ["path": .string(path)]), resend: .unsafe), "backup").int("bytes")
    }

    private func changeJob(_ op: String, job: Int64, version: Int64, _ members: KeyValuePairs<String, JSONValue?>) async throws -> Job {
        var all: [(String, JSONValue?)] = [("job", .int(job)), ("version", .int(version))]
        all.append(contentsOf: members.map { ($0.key, $0.value) })
        let answer = try await call(request(op, all), resend: .unsafe)
        return try Job(json: answer["job"] ?? .null)
    }
}

/// A request object from its members, leaving out the absent (`nil`) ones; `op` first when given.
func request(_ op: String?, _ members: KeyValuePairs<String, JSONValue?>) -> JSONValue {
    request(op, members.map { ($0.key, $0.value) })
}

func request(_ op: String?, _ members: [(String, JSONValue?)]) -> JSONValue {
    var object = JSONObject()
    if let op { object["op"] = .string(op) }
    for (key, value) in members { object[key] = value }
    return .object(object)
}
