/// One decoded request line: the echoed `id` and the validated operation.
public struct Request: Sendable, Equatable {
    public var id: JSONValue?
    public var operation: Op
    /// The job members the answer carries (`fields`); all of them unless asked otherwise.
    public var fields: JobFields

    public init(id: JSONValue?, operation: Op, fields: JobFields = .all) {
        self.id = id
        self.operation = operation
        self.fields = fields
    }
}

/// Every op the daemon serves, with its fields validated and defaults not yet applied where
/// the default depends on the stored job (the lease of `progress`, say).
public enum Op: Sendable, Equatable {
    case hello(client: String?)
    case ping
    case enqueue(EnqueueRequest)
    /// `enqueue` with a `jobs` array: all of them in one transaction, or none.
    case enqueueMany([EnqueueRequest])
    case claim(ClaimRequest)
    case progress(ProgressRequest)
    case complete(CompleteRequest)
    case fail(FailRequest)
    case cancel(JobVersion)
    case retry(JobVersion)
    case snooze(SnoozeRequest)
    case log(LogRequest)
    case get(GetRequest)
    case list(ListRequest)
    case stats
    case watch(WatchRequest)
    case schedulePut(SchedulePutRequest)
    case scheduleGet(name: String)
    case scheduleDelete(ScheduleDeleteRequest)
    case scheduleList
    case queuePut(QueuePutRequest)
    case queueGet(name: String)
    case queueList
    case purge(PurgeRequest)
    /// Copies the live database to a new file at this absolute path.
    case backup(path: String)
    /// The Prometheus text exposition of this daemon's metrics and the store's gauges.
    case metrics

    /// The op's name on the wire.
    public var name: String {
        switch self {
        case .hello: return "hello"
        case .ping: return "ping"
        case .enqueue, .enqueueMany: return "enqueue"
        case .claim: return "claim"
        case .progress: return "progress"
        case .complete: return "complete"
        case .fail: return "fail"
        case .cancel: return "cancel"
        case .retry: return "retry"
        case .snooze: return "snooze"
        case .log: return "log"
        case .get: return "get"
        case .list: return "list"
        case .stats: return "stats"
        case .watch: return "watch"
        case .schedulePut: return "schedule_put"
        case .scheduleGet: return "schedule_get"
        case .scheduleDelete: return "schedule_delete"
        case .scheduleList: return "schedule_list"
        case .queuePut: return "queue_put"
        case .queueGet: return "queue_get"
        case .queueList: return "queue_list"
        case .purge: return "purge"
        case .backup: return "backup"
        case .metrics: return "metrics"
        }
    }

    /// Whether the op may be served on a read-only socket: it changes nothing and writes nothing.
    public var isReadOnly: Bool {
        switch self {
        case .hello, .ping, .get, .list, .stats, .watch, .scheduleGet, .scheduleList, .queueGet, .queueList, .metrics: return true
        default: return false
        }
    }

    /// Whether the op's answer carries jobs, and so may be trimmed with `fields`.
    public var answersWithJobs: Bool {
        switch self {
        case .enqueue, .enqueueMany, .claim, .progress, .complete, .fail, .cancel, .retry, .snooze, .log, .get, .list:
            return true
        default: return false
        }
    }

    /// Whether the op changes the store and so goes through the single writer.
    public var isWrite: Bool {
        switch self {
        case .enqueue, .enqueueMany, .claim, .progress, .complete, .fail, .cancel, .retry, .snooze, .log, .schedulePut,
            .scheduleDelete, .queuePut, .purge:
            return true
        case .hello, .ping, .get, .list, .stats, .watch, .scheduleGet, .scheduleList, .queueGet, .queueList, .backup, .metrics:
            return false
        }
    }
}

/// The fence every change to an existing job carries.
public struct JobVersion: Sendable, Equatable {
    public var job: Int64
    public var version: Int64

    public init(job: Int64, version: Int64) {
        self.job = job
        self.version = version
    }
}

/// When a new job becomes eligible.
public enum RunAt: Sendable, Equatable {
    case now
    case at(Int64)
    case after(milliseconds: Int64)

    public func resolve(now: Int64) -> Int64 {
        switch self {
        case .now: return now
        case .at(let time): return time
        case .after(let delay): return now + delay
        }
    }
}

public struct EnqueueRequest: Sendable, Equatable {
    public var queue: String
    public var payload: RawJSON
    public var priority: Int64
    public var runAt: RunAt
    public var maxAttempts: Int64
    public var backoffInitialMs: Int64
    public var backoffMaxMs: Int64
    public var uniqueKey: String?
    /// Jobs sharing one key count together against the queue's `max_running_per_key`.
    public var concurrencyKey: String?
    /// The longest one attempt may run, from its claim, whatever progress it reports.
    public var timeoutMs: Int64?
    /// W3C Trace Context, carried from the enqueuer to the worker.
    public var traceparent: String?
    public var tracestate: String?
    /// Jobs that must complete before this one is eligible.
    public var after: [Int64]
    /// In the `jobs` form: earlier items of the same request this one waits for.
    public var afterIndex: [Int]

    public init(
        queue: String, payload: RawJSON = .null, priority: Int64 = 0, runAt: RunAt = .now,
        maxAttempts: Int64 = Defaults.maxAttempts, backoffInitialMs: Int64 = Defaults.backoffInitialMs,
        backoffMaxMs: Int64 = Defaults.backoffMaxMs, uniqueKey: String? = nil, concurrencyKey: String? = nil,
        timeoutMs: Int64? = nil, traceparent: String? = nil, tracestate: String? = nil, after: [Int64] = [],
        afterIndex: [Int] = []
    ) {
        self.after = after
        self.afterIndex = afterIndex
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.backoffInitialMs = backoffInitialMs
        self.backoffMaxMs = backoffMaxMs
        self.uniqueKey = uniqueKey
        self.concurrencyKey = concurrencyKey
        self.timeoutMs = timeoutMs
        self.traceparent = traceparent
        self.tracestate = tracestate
    }
}

public struct ClaimRequest: Sendable, Equatable {
    /// One or more queues; the best eligible job across all of them is taken.
    public var queues: [String]
    public var leaseMs: Int64
    /// 0 answers at once; more parks the claim until a job is eligible or the time is up.
    public var waitMs: Int64
    public var worker: String?

    public init(queues: [String], leaseMs: Int64 = Defaults.leaseMs, waitMs: Int64 = 0, worker: String? = nil) {
        self.queues = queues
        self.leaseMs = leaseMs
        self.waitMs = waitMs
        self.worker = worker
    }
}

public struct ProgressRequest: Sendable, Equatable {
    public var fence: JobVersion
    /// `nil` leaves the stored progress as it is.
    public var progress: RawJSON?
    /// `nil` renews by the lease length of the claim.
    public var leaseMs: Int64?

    public init(fence: JobVersion, progress: RawJSON? = nil, leaseMs: Int64? = nil) {
        self.fence = fence
        self.progress = progress
        self.leaseMs = leaseMs
    }
}

public struct CompleteRequest: Sendable, Equatable {
    public var fence: JobVersion
    public var result: RawJSON

    public init(fence: JobVersion, result: RawJSON = .null) {
        self.fence = fence
        self.result = result
    }
}

/// `snooze`: a running job back to pending after `delayMs`, the attempt not counted.
public struct SnoozeRequest: Sendable, Equatable {
    public var fence: JobVersion
    public var delayMs: Int64

    public init(fence: JobVersion, delayMs: Int64) {
        self.fence = fence
        self.delayMs = delayMs
    }
}

public struct FailRequest: Sendable, Equatable {
    public var fence: JobVersion
    public var error: RawJSON
    /// False fails the job for good even when attempts remain.
    public var retry: Bool
    /// Overrides the backoff (no jitter) when set.
    public var retryInMs: Int64?

    public init(fence: JobVersion, error: RawJSON = .null, retry: Bool = true, retryInMs: Int64? = nil) {
        self.fence = fence
        self.error = error
        self.retry = retry
        self.retryInMs = retryInMs
    }
}

public struct GetRequest: Sendable, Equatable {
    public var job: Int64
    public var events: Bool
    /// Whether `events` includes the job's `log` events.
    public var logs: Bool

    public init(job: Int64, events: Bool = false, logs: Bool = false) {
        self.job = job
        self.events = events
        self.logs = logs
    }
}

public struct ListRequest: Sendable, Equatable {
    public var queue: String?
    public var state: JobState?
    public var limit: Int64
    /// Only jobs with a greater id: the `next` cursor of the previous page.
    public var after: Int64?

    public init(queue: String? = nil, state: JobState? = nil, limit: Int64 = Defaults.listLimit, after: Int64? = nil) {
        self.queue = queue
        self.state = state
        self.limit = limit
        self.after = after
    }
}

/// Deletes finished jobs (and their history) for good.
public struct PurgeRequest: Sendable, Equatable {
    public var queue: String?
    /// Which final states; all three when empty.
    public var states: [JobState]
    /// Only jobs last changed before this time.
    public var before: Int64?
    public var limit: Int64

    public init(queue: String? = nil, states: [JobState] = [], before: Int64? = nil, limit: Int64 = 1000) {
        self.queue = queue
        self.states = states
        self.before = before
        self.limit = limit
    }
}
