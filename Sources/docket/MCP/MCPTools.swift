import DocketProtocol

/// The tools `docket mcp` offers an LLM agent: one per op it needs, with an input schema that
/// mirrors the op's fields in `protocol/schemas` (a test checks that none is missing) and a
/// description written for a model deciding what to call.
enum MCPTools {
    /// What every description that changes a job says about versions.
    static let versionRule = """
        Every job has a version that goes up by one with each change. Pass the version you last \
        saw; if the job changed since (your lease expired and another worker took it, or an \
        operator cancelled it), the call fails with code stale_version and error.job tells its \
        present version and state: stop working on the job and do not retry with the new \
        version unless you have read the job again (get) and decided it is still yours to change.
        """

    /// How long `claim` leases a job when the call does not say: long enough for an LLM turn.
    static let defaultLeaseMs: Int64 = 600_000

    struct Definition {
        let name: String
        let description: String
        let properties: [(name: String, schema: JSONValue)]
        let required: [String]

        var inputSchema: JSONValue {
            .object(
                JSONObject([
                    ("type", "object"), ("properties", .object(JSONObject(properties.map { ($0.name, $0.schema) }))),
                    ("required", .array(required.map { .string($0) })),
                ]))
        }
    }

    static func integer(_ description: String, minimum: Int64? = nil, maximum: Int64? = nil) -> JSONValue {
        var schema = JSONObject([("type", "integer"), ("description", .string(description))])
        if let minimum { schema["minimum"] = .int(minimum) }
        if let maximum { schema["maximum"] = .int(maximum) }
        return .object(schema)
    }

    static func string(_ description: String) -> JSONValue {
        .object(JSONObject([("type", "string"), ("description", .string(description))]))
    }

    static func anyJSON(_ description: String) -> JSONValue {
        .object(JSONObject([("description", .string(description))]))
    }

    static func boolean(_ description: String) -> JSONValue {
        .object(JSONObject([("type", "boolean"), ("description", .string(description))]))
    }

    static func choice(_ values: [String], _ description: String) -> JSONValue {
        .object(
            JSONObject([
                ("type", "string"), ("enum", .array(values.map { .string($0) })), ("description", .string(description)),
            ]))
    }

    static func array(of items: JSONValue, _ description: String, minItems: Int? = nil, maxItems: Int? = nil) -> JSONValue {
        var schema = JSONObject([("type", "array"), ("items", items), ("description", .string(description))])
        if let minItems { schema["minItems"] = .int(minItems) }
        if let maxItems { schema["maxItems"] = .int(maxItems) }
        return .object(schema)
    }

    /// Milliseconds from now, up to the furthest the daemon accepts (10 years).
    static func delay(_ description: String) -> JSONValue {
        integer(description, minimum: 0, maximum: Limits.standard.maxDelayMs)
    }

    /// A lease, up to the longest the daemon grants (a day).
    static func lease(_ description: String) -> JSONValue {
        integer(description, minimum: 1, maximum: Limits.standard.maxLeaseMs)
    }

    /// How much log text the `logs` tool returns when the call does not say: the newest 64 KiB.
    static let defaultLogBytes: Int64 = 65_536

    static let job = ("job", integer("The job's id.", minimum: 1, maximum: .max))
    static let version = (
        "version", integer("The job's version as you last saw it (see the description).", minimum: 1, maximum: .max)
    )
    static let fields = (
        "fields",
        array(
            of: .object(JSONObject([("enum", .array(JobFields.members.map { .string($0.name) }))])),
            "Job members to return (id and version always), e.g. [\"state\"]; leave out for the whole job.")
    )
    static let queue = ("queue", string("The queue's name (1-255 bytes).")) as (String, JSONValue)

    static let all: [Definition] = [
        Definition(
            name: "enqueue",
            description: """
                Add a job to a queue. Returns the job (state pending, version 1). With unique_key, \
                an identical enqueue returns the stored job instead of a second one (created: false), \
                so it is safe to repeat after an error. With after, the job waits (waiting_for lists \
                what it still waits for) until every job named there has completed, and is cancelled \
                with last_error.code dependency_failed if one of them fails or is cancelled; in jobs, an \
                item's after_index names earlier items of the same array, so a whole pipeline is added \
                in one call. An id in after that does not exist is not_found and nothing is added.
                """,
            properties: [
                queue, ("payload", anyJSON("Any JSON the worker needs.")),
                ("priority", integer("Lower runs first; default 0.", minimum: -2_147_483_648, maximum: 2_147_483_647)),
                ("run_at", string("Not before this RFC 3339 time.")),
                ("delay_ms", delay("Not before this many milliseconds from now.")),
                (
                    "max_attempts",
                    integer("Attempts before the job fails for good; default 3.", minimum: 1, maximum: Limits.standard.maxAttempts)
                ),
                (
                    "backoff",
                    .object(
                        JSONObject([
                            ("type", "object"),
                            (
                                "properties",
                                [
                                    "initial_ms": delay("The wait before the first retry; default 1000."),
                                    "max_ms": delay("The longest wait; default 3600000."),
                                ]
                            ),
                            ("description", "The wait before a retry, doubling per attempt."),
                        ]))
                ),
                ("unique_key", string("Makes the enqueue idempotent within the queue.")),
                (
                    "concurrency_key",
                    string("Jobs of the queue with the same key are limited together by the queue's max_running_per_key.")
                ),
                (
                    "timeout_ms",
                    integer(
                        "The longest one attempt may run, from its claim, however much progress it reports; past it the attempt "
                            + "fails with code timeout (and is retried while attempts remain).", minimum: 1,
                        maximum: Limits.standard.maxTimeoutMs)
                ),
                ("traceparent", string("W3C Trace Context traceparent carried to the worker, e.g. 00-<32 hex>-<16 hex>-01.")),
                ("tracestate", string("W3C Trace Context tracestate carried with it.")),
                (
                    "after",
                    array(
                        of: job.1, "Ids of existing jobs this one waits for: it runs only after all of them completed.",
                        maxItems: Limits.standard.maxDependencies)
                ),
                (
                    "jobs",
                    array(
                        of: .object(JSONObject([("type", "object")])),
                        "Instead of queue and the rest: an array of such job objects, all added or none. An item may also "
                            + "have after_index: the indexes of earlier items it waits for, e.g. [0].", minItems: 1,
                        maxItems: Limits.standard.maxBatchJobs)
                ), fields,
            ], required: []),
        Definition(
            name: "claim",
            description: """
                Take the best waiting job of a queue and lease it: the job comes back running, with \
                its payload and version. Do the work, report progress before the lease runs out, then \
                complete or fail it. The lease here defaults to \(defaultLeaseMs / 60000) minutes (long \
                enough for an LLM turn), not the protocol's 30 s. job is null when nothing was waiting \
                within wait_ms.
                """,
            properties: [
                queue,
                (
                    "queues",
                    array(
                        of: queue.1, "Several queue names instead of queue; the best job of all of them.", minItems: 1,
                        maxItems: Limits.standard.maxClaimQueues)
                ),
                ("lease_ms", lease("How long the job is yours without progress; default \(defaultLeaseMs).")),
                (
                    "wait_ms",
                    integer(
                        "Wait up to this long for a job (at most 900000); default 0.", minimum: 0, maximum: Limits.standard.maxWaitMs)
                ),
                ("worker", string("Your name, recorded on the job.")), fields,
            ], required: []),
        Definition(
            name: "progress",
            description: "Report progress on a job you claimed and renew its lease. " + versionRule,
            properties: [
                job, version, ("progress", anyJSON("Any JSON describing how far you got.")),
                ("lease_ms", lease("The new lease from now; default the claim's.")), fields,
            ], required: ["job", "version"]),
        Definition(
            name: "complete",
            description: "Finish a job you claimed, with its result. " + versionRule,
            properties: [job, version, ("result", anyJSON("Any JSON: the job's outcome.")), fields],
            required: ["job", "version"]),
        Definition(
            name: "fail",
            description: """
                Give up on a job you claimed. It is retried after a backoff while attempts remain \
                (unless retry is false), else it fails for good.
                """ + " " + versionRule,
            properties: [
                job, version, ("error", anyJSON("Any JSON saying what went wrong.")),
                ("retry", boolean("false: fail for good now; default true.")),
                ("retry_in_ms", delay("Retry after this long instead of the backoff.")), fields,
            ], required: ["job", "version"]),
        Definition(
            name: "snooze",
            description: """
                Not now: put a job you claimed back in its queue for delay_ms without using up an \
                attempt (a rate limit was hit, something it needs is busy). The job is pending again \
                and no longer yours; a later claim, yours or another worker's, takes it once the delay \
                has passed.
                """ + " " + versionRule,
            properties: [
                job, version,
                (
                    "delay_ms",
                    delay("How long until it may be claimed again (0 to 315360000000).")
                ),
                fields,
            ], required: ["job", "version", "delay_ms"]),
        Definition(
            name: "log",
            description: """
                Append text to the log of a job you claimed, for the people following it (docket logs \
                --follow) and for the logs tool. The version does not change: go on with the one you \
                have. The daemon keeps the newest 1 MiB of log per job.
                """ + " " + versionRule,
            properties: [
                job, version, ("data", string("The text to append, as written: whole lines with their line feeds.")),
                ("stream", choice(LogStream.allCases.map(\.rawValue), "Which output the text belongs to; default stdout.")),
                fields,
            ], required: ["job", "version", "data"]),
        Definition(
            name: "cancel",
            description: "Cancel a pending or running job; its worker learns it at its next call. " + versionRule,
            properties: [job, version, fields], required: ["job", "version"]),
        Definition(
            name: "retry",
            description: """
                Run a failed or cancelled job again from its first attempt; a job enqueued with after \
                waits again for those of its jobs that have not completed.
                """ + " " + versionRule,
            properties: [job, version, fields], required: ["job", "version"]),
        Definition(
            name: "get",
            description: "Read a job: its state, version, payload, progress, result and last error.",
            properties: [
                job, ("events", boolean("true: also its history.")),
                (
                    "logs",
                    boolean(
                        "With events true: the history also has the job's log lines (type log); the logs tool gives just the text.")
                ),
                fields,
            ], required: ["job"]),
        Definition(
            name: "logs",
            description: """
                Read what a job's worker wrote to its log while it ran (docket work sends its command's \
                stdout and stderr there). Returns log: the text, oldest first, with job (its id, version \
                and state). The daemon keeps the newest 1 MiB per job (log_dropped_bytes says how much \
                older output went); this tool returns at most max_bytes of the newest text and says in \
                omitted_bytes how much older text it left out.
                """,
            properties: [
                job,
                (
                    "stream",
                    choice(LogStream.allCases.map(\.rawValue), "Only that stream; leave out for both, in the order written.")
                ),
                (
                    "max_bytes",
                    integer(
                        "At most this many bytes of the newest text; default \(defaultLogBytes).", minimum: 1, maximum: 1_048_576)
                ),
            ], required: ["job"]),
        Definition(
            name: "list",
            description: "List jobs by id, optionally of one queue and one state; next is the cursor for the next page.",
            properties: [
                queue, ("state", choice(JobState.allCases.map(\.rawValue), "Only jobs in this state.")),
                ("limit", integer("At most this many (1-1000, default 100).", minimum: 1, maximum: Limits.standard.maxListLimit)),
                ("after", integer("The previous page's next.", minimum: 0, maximum: .max)), fields,
            ], required: []),
        Definition(
            name: "stats",
            description: "Count jobs by queue and state, with the daemon's connections and waiting claims.",
            properties: [], required: []),
        Definition(
            name: "wait",
            description: """
                Wait until a job is completed, failed for good or cancelled, and return it. \
                timeout_ms bounds the wait (default 60000, at most 600000); the answer then says \
                the job is not final yet.
                """,
            properties: [job, ("timeout_ms", integer("How long to wait at most.", minimum: 1, maximum: 600_000))],
            required: ["job"]),
    ]
}
