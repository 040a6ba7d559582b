import DocketProtocol

/// What `enqueue` answers.
public struct EnqueueResult: Sendable, Equatable {
    public var job: Job
    /// `false` when the `unique_key` matched a stored job of the queue, which is returned instead.
    public var created: Bool
}

/// One page of `list`.
public struct JobPage: Sendable, Equatable {
    /// In ascending id order.
    public var jobs: [Job]
    /// The `after` for the next page, or `nil` when this was the last one.
    public var next: Int64?
}

/// A job with every event recorded for it, oldest first.
public struct JobHistory: Sendable, Equatable {
    public var job: Job
    public var events: [JobEvent]
}

/// The retry delays of a job after `fail`: `min(max, initial * 2^(attempt-1))`, ±10% jitter.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var max: Duration?

    public init(initial: Duration, max: Duration? = nil) {
        self.initial = initial
        self.max = max
    }
}

/// One job of a batch `enqueue`, with the members a single enqueue takes.
public struct NewJob: Sendable, Equatable {
    public var queue: String
    public var payload: JSONValue
    public var priority: Int64?
    /// Milliseconds since the epoch; or `delay` from now.
    public var runAt: Int64?
    public var delay: Duration?
    public var maxAttempts: Int64?
    public var backoff: Backoff?
    public var uniqueKey: String?
    /// Jobs sharing a key count together against their queue's `max_running_per_key`.
    public var concurrencyKey: String?
    /// The longest one attempt may run, from its claim.
    public var timeout: Duration?
    /// W3C Trace Context for the job's worker.
    public var traceparent: String?
    public var tracestate: String?
    /// Jobs that must complete first.
    public var after: [Int64]
    /// In a batch: earlier jobs of the same batch that must complete first.
    public var afterIndex: [Int]

    public init(
        queue: String, payload: JSONValue = .null, priority: Int64? = nil, runAt: Int64? = nil, delay: Duration? = nil,
        maxAttempts: Int64? = nil, backoff: Backoff? = nil, uniqueKey: String? = nil, concurrencyKey: String? = nil,
        timeout: Duration? = nil, traceparent: String? = nil, tracestate: String? = nil, after: [Int64] = [],
        afterIndex: [Int] = []
    ) {
        self.after = after
        self.afterIndex = afterIndex
        self.timeout = timeout
        self.traceparent = traceparent
        self.tracestate = tracestate
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.runAt = runAt
        self.delay = delay
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.uniqueKey = uniqueKey
        self.concurrencyKey = concurrencyKey
    }

    /// The job's members as the protocol names them; absent ones are `nil`.
    var members: [(String, JSONValue?)] {
        [
            ("queue", .string(queue)), ("payload", payload), ("priority", priority.map(JSONValue.int)),
            ("run_at", runAt.map { .string(Timestamp.format(milliseconds: $0)) }),
            ("delay_ms", delay.map { .int($0.wholeMilliseconds) }), ("max_attempts", maxAttempts.map(JSONValue.int)),
            (
                "backoff",
                backoff.map { backoff in
                    request(nil, ["initial_ms": .int(backoff.initial.wholeMilliseconds), "max_ms": backoff.max.map { .int($0.wholeMilliseconds) }])
                }
            ),
            ("unique_key", uniqueKey.map(JSONValue.string)), ("concurrency_key", concurrencyKey.map(JSONValue.string)),
            ("timeout_ms", timeout.map { .int($0.wholeMilliseconds) }), ("traceparent", traceparent.map(JSONValue.string)),
            ("tracestate", tracestate.map(JSONValue.string)),
            ("after", after.isEmpty ? nil : .array(after.map(JSONValue.int))),
            ("after_index", afterIndex.isEmpty ? nil : .array(afterIndex.map { .int(Int64($0)) })),
        ]
    }
}
