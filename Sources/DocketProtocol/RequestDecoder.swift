/// Turns one request line into a validated `Request`, or an error answer naming the problem.
public struct RequestDecoder: Sendable {
    public var limits: Limits

    public init(limits: Limits = .standard) {
        self.limits = limits
    }

    /// A rejected line: the `id` to echo (when one could be read) and the error to send.
    public struct Rejection: Error, Sendable, Equatable {
        public var id: JSONValue?
        public var error: ProtocolError
        /// The op the line named, when it is one this daemon serves (for the request counters).
        public var op: String? = nil
    }

    public func decode(_ line: some Collection<UInt8>) -> Result<Request, Rejection> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            return .failure(Rejection(id: nil, error: .badRequest("invalid JSON: \(error.message) at byte \(error.offset)")))
        }
        guard case .object(let object) = value else {
            return .failure(Rejection(id: nil, error: .badRequest("a request must be a JSON object, not \(value.typeName)")))
        }
        let id = object["id"]
        if let id, !id.isScalar {
            return .failure(Rejection(id: nil, error: .badRequest("field 'id' must be a string, number, boolean or null")))
        }
        do {
            let fields = Fields(object: object, limits: limits)
            let operation = try decodeOperation(fields)
            return .success(Request(id: id, operation: operation, fields: operation.answersWithJobs ? try fields.jobFields() : .all))
        } catch {
            let op = error.code == .unknownOp ? nil : object["op"]?.string
            return .failure(Rejection(id: id, error: error, op: op))
        }
    }

    func decodeOperation(_ f: Fields) throws(ProtocolError) -> Op {
        guard let opValue = f.object["op"] else { throw .badRequest("field 'op' is missing") }
        guard case .string(let op) = opValue else { throw .badRequest("field 'op' must be a string") }
        switch op {
        case "hello":
            return .hello(client: try f.optionalString("client", maxBytes: limits.maxNameBytes))
        case "ping":
            return .ping
        case "enqueue":
            guard let list = f.object["jobs"], !list.isNull else {
                guard f.object["after_index"]?.isNull ?? true else {
                    throw .badRequest("field 'after_index' belongs to items of 'jobs'; a single job names its dependencies in 'after'")
                }
                return .enqueue(try decodeEnqueue(f))
            }
            guard f.object["queue"]?.isNull ?? true else { throw .badRequest("give 'queue' or 'jobs', not both") }
            guard case .array(let items) = list, !items.isEmpty, items.count <= limits.maxBatchJobs else {
                throw .badRequest("field 'jobs' must be an array of 1 to \(limits.maxBatchJobs) jobs")
            }
            var requests: [EnqueueRequest] = []
            requests.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                guard case .object(let object) = item else { throw .badRequest("field 'jobs[\(index)]' must be an object") }
                let f = Fields(object: object, limits: limits, prefix: "jobs[\(index)].")
                var request = try decodeEnqueue(f)
                request.afterIndex = try f.afterIndex(before: index)
                guard request.after.count + request.afterIndex.count <= limits.maxDependencies else {
                    throw .badRequest("'jobs[\(index)]' names more than \(limits.maxDependencies) dependencies")
                }
                requests.append(request)
            }
            return .enqueueMany(requests)
        case "claim":
            return .claim(try decodeClaim(f))
        case "progress":
            let leaseMs = try f.optionalInt("lease_ms", in: 1...limits.maxLeaseMs)
            let progress = f.object["progress"].map(RawJSON.init)
            return .progress(ProgressRequest(fence: try f.fence(), progress: progress, leaseMs: leaseMs))
        case "complete":
            return .complete(CompleteRequest(fence: try f.fence(), result: f.json("result")))
        case "fail":
            return .fail(
                FailRequest(
                    fence: try f.fence(), error: f.json("error"), retry: try f.optionalBool("retry") ?? true,
                    retryInMs: try f.optionalInt("retry_in_ms", in: 0...limits.maxDelayMs)))
        case "cancel":
            return .cancel(try f.fence())
        case "retry":
            return .retry(try f.fence())
        case "log":
            let fence = try f.fence()
            guard let data = f.object["data"] else { throw .badRequest("field 'data' is missing: the text to append to the job's log") }
            guard case .string(let text) = data else { throw .badRequest("field 'data' must be the log text, a string, not \(data.typeName)") }
            var stream = LogStream.stdout
            if let name = try f.optionalString("stream", maxBytes: 16) {
                guard let named = LogStream(rawValue: name) else { throw .badRequest("field 'stream' must be stdout or stderr") }
                stream = named
            }
            return .log(LogRequest(fence: fence, text: text, stream: stream))
        case "snooze":
            let fence = try f.fence()
            guard f.object["delay_ms"] != nil else { throw .badRequest("field 'delay_ms' is missing: how long to snooze, in ms") }
            return .snooze(SnoozeRequest(fence: fence, delayMs: try f.int("delay_ms", in: 0...limits.maxDelayMs)))
        case "get":
            return .get(
                GetRequest(job: try f.jobID(), events: try f.optionalBool("events") ?? false, logs: try f.optionalBool("logs") ?? false))
        case "list":
            var stateFilter: JobState?
            if let state = try f.optionalString("state", maxBytes: 32) {
                guard let parsed = JobState(rawValue: state) else {
                    throw .badRequest(
                        "field 'state' must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                stateFilter = parsed
            }
            return .list(
                ListRequest(
                    queue: try f.optionalName("queue"), state: stateFilter,
                    limit: try f.optionalInt("limit", in: 1...limits.maxListLimit) ?? Defaults.listLimit,
                    after: try f.optionalInt("after", in: 0...Int64.max)))
        case "stats":
            return .stats
        case "metrics":
            return .metrics
        case "watch":
            let job = try f.optionalInt("job", in: 1...Int64.max)
            let queue = try f.optionalName("queue")
            guard job == nil || queue == nil else { throw .badRequest("give 'job' or 'queue' (or neither), not both") }
            let scope: WatchScope = job.map { .job($0) } ?? queue.map { .queue($0) } ?? .everything
            return .watch(
                WatchRequest(scope: scope, since: try f.optionalInt("since", in: 0...Int64.max), logs: try f.optionalBool("logs") ?? false))
        case "schedule_put":
            return .schedulePut(try decodeSchedulePut(f))
        case "schedule_get":
            return .scheduleGet(name: try f.name("name"))
        case "schedule_delete":
            return .scheduleDelete(
                ScheduleDeleteRequest(name: try f.name("name"), version: try f.int("version", in: 1...Int64.max)))
        case "schedule_list":
            return .scheduleList
        case "queue_put":
            return .queuePut(try decodeQueuePut(f))
        case "queue_get":
            return .queueGet(name: try f.name("queue"))
        case "queue_list":
            return .queueList
        case "backup":
            guard let path = try f.optionalString("path", maxBytes: 4096) else { throw .badRequest("field 'path' is missing") }
            guard path.hasPrefix("/") else { throw .badRequest("field 'path' must be an absolute path") }
            return .backup(path: path)
        case "purge":
            var states: [JobState] = []
            if let text = try f.optionalString("state", maxBytes: 32) {
                guard let state = JobState(rawValue: text), state.isFinal else {
                    throw .badRequest("field 'state' must be completed, failed or cancelled: only finished jobs are purged")
                }
                states = [state]
            }
            var before: Int64?
            if let text = try f.optionalString("before", maxBytes: 64) {
                guard let time = Timestamp.parse(text) else {
                    throw .badRequest("field 'before' must be an RFC 3339 time such as 2026-11-23T06:00:00.000Z")
                }
                before = time
            }
            return .purge(
                PurgeRequest(
                    queue: try f.optionalName("queue"), states: states, before: before,
                    limit: try f.optionalInt("limit", in: 1...limits.maxPurge) ?? 1000))
        default:
            throw ProtocolError(.unknownOp, "unknown op \"\(op)\"; protocol/README.md lists the ops this docketd serves")
        }
    }

    /// One job's fields, at the top level or as an item of `jobs` (errors then name the item).
    func decodeEnqueue(_ f: Fields) throws(ProtocolError) -> EnqueueRequest {
        let queue = try f.name("queue")
        var runAt = RunAt.now
        let delay = try f.optionalInt("delay_ms", in: 0...limits.maxDelayMs)
        if let text = try f.optionalString("run_at", maxBytes: 64) {
            guard delay == nil else { throw .badRequest("give '\(f.prefix)run_at' or '\(f.prefix)delay_ms', not both") }
            guard let time = Timestamp.parse(text) else {
                throw .badRequest("field '\(f.prefix)run_at' must be an RFC 3339 time such as 2026-11-23T06:00:00.000Z")
            }
            runAt = .at(time)
        } else if let delay {
            runAt = .after(milliseconds: delay)
        }
        var initial = Defaults.backoffInitialMs
        var maximum = Defaults.backoffMaxMs
        if let backoff = f.object["backoff"], !backoff.isNull {
            guard case .object(let inner) = backoff else { throw .badRequest("field '\(f.prefix)backoff' must be an object") }
            let b = Fields(object: inner, limits: limits, prefix: f.prefix + "backoff.")
            initial = try b.optionalInt("initial_ms", in: 0...limits.maxDelayMs) ?? initial
            maximum = try b.optionalInt("max_ms", in: 0...limits.maxDelayMs) ?? max(maximum, initial)
            guard maximum >= initial else {
                throw .badRequest("field '\(f.prefix)backoff.max_ms' must be at least '\(f.prefix)backoff.initial_ms'")
            }
        }
        return EnqueueRequest(
            queue: queue, payload: f.json("payload"),
            priority: try f.optionalInt("priority", in: Int64(Int32.min)...Int64(Int32.max)) ?? 0, runAt: runAt,
            maxAttempts: try f.optionalInt("max_attempts", in: 1...limits.maxAttempts) ?? Defaults.maxAttempts,
            backoffInitialMs: initial, backoffMaxMs: maximum,
            uniqueKey: try f.optionalString("unique_key", maxBytes: limits.maxNameBytes),
            concurrencyKey: try f.optionalName("concurrency_key"),
            timeoutMs: try f.optionalInt("timeout_ms", in: 1...limits.maxTimeoutMs),
            traceparent: try f.traceContext("traceparent", TraceContext.isValidTraceparent),
            tracestate: try f.traceContext("tracestate", TraceContext.isValidTracestate), after: try f.jobIDs("after"))
    }

    func decodeSchedulePut(_ f: Fields) throws(ProtocolError) -> SchedulePutRequest {
        let name = try f.name("name", maxBytes: Schedule.maxNameBytes(keyLimit: limits.maxNameBytes))
        guard let text = try f.optionalString("cron", maxBytes: 256) else { throw .badRequest("field 'cron' is missing") }
        let cron: CronExpression
        do {
            cron = try CronExpression(text)
        } catch {
            throw .badRequest("field 'cron': \(error.description)")
        }
        guard f.object["version"] != nil else {
            throw .badRequest("field 'version' is missing: send 0 to create the schedule, or the version you last saw to edit it")
        }
        return SchedulePutRequest(
            name: name, cron: cron, queue: try f.name("queue"), payload: f.json("payload"),
            priority: try f.optionalInt("priority", in: Int64(Int32.min)...Int64(Int32.max)) ?? 0,
            maxAttempts: try f.optionalInt("max_attempts", in: 1...limits.maxAttempts) ?? Defaults.maxAttempts,
            paused: try f.optionalBool("paused") ?? false, version: try f.int("version", in: 0...Int64.max))
    }

    func decodeClaim(_ f: Fields) throws(ProtocolError) -> ClaimRequest {
        var queues: [String]
        if let list = f.object["queues"], !list.isNull {
            guard f.object["queue"]?.isNull ?? true else { throw .badRequest("give 'queue' or 'queues', not both") }
            guard case .array(let items) = list, !items.isEmpty, items.count <= limits.maxClaimQueues else {
                throw .badRequest("field 'queues' must be an array of 1 to \(limits.maxClaimQueues) queue names")
            }
            queues = []
            for item in items {
                guard case .string(let name) = item, Fields.isValidName(name, maxBytes: limits.maxNameBytes) else {
                    throw .badRequest("field 'queues' must hold queue names (1 to \(limits.maxNameBytes) bytes, no control characters)")
                }
                if !queues.contains(where: { $0.hasSameUTF8(as: name) }) { queues.append(name) }
            }
        } else {
            queues = [try f.name("queue")]
        }
        return ClaimRequest(
            queues: queues, leaseMs: try f.optionalInt("lease_ms", in: 1...limits.maxLeaseMs) ?? Defaults.leaseMs,
            waitMs: try f.optionalInt("wait_ms", in: 0...limits.maxWaitMs) ?? 0,
            worker: try f.optionalName("worker"))
    }
}

/// Typed access to a request's members, each failure naming the field and what it must be.
struct Fields {
    let object: JSONObject
    let limits: Limits
    var prefix = ""

    /// `fields`: the job members an answer carries.
    func jobFields() throws(ProtocolError) -> JobFields {
        guard let value = object["fields"], !value.isNull else { return .all }
        guard case .array(let items) = value, items.count <= JobFields.members.count * 2 else {
            throw .badRequest("field 'fields' must be an array of job member names")
        }
        var names: [String] = []
        for item in items {
            guard case .string(let name) = item else { throw .badRequest("field 'fields' must be an array of job member names") }
            names.append(name)
        }
        guard let fields = JobFields(names: names) else {
            let unknown = names.first { name in !JobFields.members.contains { $0.name == name } } ?? "?"
            throw .badRequest(
                "field 'fields' names '\(unknown)', which is not a job member; use any of "
                    + JobFields.members.map(\.name).joined(separator: ", "))
        }
        return fields
    }

    func int(_ key: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64 {
        guard let value = object[key] else { throw .badRequest("field '\(prefix)\(key)' is missing") }
        return try checkedInt(key, value, in: range)
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64? {
        guard let value = object[key], !value.isNull else { return nil }
        return try checkedInt(key, value, in: range)
    }

    private func checkedInt(_ key: String, _ value: JSONValue, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64 {
        guard case .number(let text) = value else {
            throw .badRequest("field '\(prefix)\(key)' must be an integer, not \(value.typeName)")
        }
        guard let number = Int64(text), range.contains(number) else {
            let isInteger = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            throw .badRequest(
                isInteger
                    ? "field '\(prefix)\(key)' must be between \(range.lowerBound) and \(range.upperBound)"
                    : "field '\(prefix)\(key)' must be an integer (no fraction or exponent)")
        }
        return number
    }

    func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let value = object[key], !value.isNull else { return nil }
        guard case .bool(let flag) = value else {
            throw .badRequest("field '\(prefix)\(key)' must be true or false, not \(value.typeName)")
        }
        return flag
    }

    func optionalString(_ key: String, maxBytes: Int) throws(ProtocolError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard case .string(let text) = value else {
            throw .badRequest("field '\(prefix)\(key)' must be a string, not \(value.typeName)")
        }
        guard text.utf8.count <= maxBytes else {
            throw .badRequest("field '\(prefix)\(key)' must be at most \(maxBytes) bytes")
        }
        return text
    }

    /// A name (of a queue, worker or schedule): 1 to `maxBytes` bytes of UTF-8 without
    /// control characters, so it prints on one line of a log or table.
    func name(_ key: String, maxBytes: Int? = nil) throws(ProtocolError) -> String {
        guard let name = try optionalName(key, maxBytes: maxBytes) else { throw .badRequest("field '\(prefix)\(key)' is missing") }
        return name
    }

    func optionalName(_ key: String, maxBytes: Int? = nil) throws(ProtocolError) -> String? {
        let maxBytes = maxBytes ?? limits.maxNameBytes
        guard let text = try optionalString(key, maxBytes: maxBytes) else { return nil }
        guard Self.isValidName(text, maxBytes: maxBytes) else {
            throw .badRequest("field '\(prefix)\(key)' must be 1 to \(maxBytes) bytes with no control characters")
        }
        return text
    }

    static func isValidName(_ text: String, maxBytes: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maxBytes && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Any JSON value; an absent member is `null`.
    func json(_ key: String) -> RawJSON {
        object[key].map(RawJSON.init) ?? .null
    }

    func jobID() throws(ProtocolError) -> Int64 {
        try int("job", in: 1...Int64.max)
    }

    func fence() throws(ProtocolError) -> JobVersion {
        let job = try jobID()
        guard object["version"] != nil else {
            throw .badRequest("field 'version' is missing: send the version you last saw (from claim or get)")
        }
        return JobVersion(job: job, version: try int("version", in: 1...Int64.max))
    }
}
