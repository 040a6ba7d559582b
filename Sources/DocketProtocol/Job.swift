/// A job's state as clients see it.
///
/// Who moves a job out of each state:
/// - `pending`: a claim (to `running`) or `cancel`.
/// - `running`: its worker (`progress`, `complete`, `fail`), an operator (`cancel`), or the
///   lease reaper when the lease passes (back to `pending`, or `failed` with no attempts left).
/// - `completed`: nobody; it is final.
/// - `failed`, `cancelled`: final until an operator sends `retry`.
public enum JobState: String, Sendable, CaseIterable, Equatable {
    case pending, running, completed, failed, cancelled

    public var isFinal: Bool {
        switch self {
        case .completed, .failed, .cancelled: return true
        case .pending, .running: return false
        }
    }
}

/// A job as the wire protocol shows it. Times are milliseconds since the Unix epoch.
public struct Job: Sendable, Equatable {
    public var id: Int64
    public var queue: String
    public var state: JobState
    /// 1 at enqueue, +1 with every change; the fence every mutating request must match.
    public var version: Int64
    /// Lower runs first.
    public var priority: Int64
    public var payload: RawJSON
    /// How many times the job has been claimed since enqueue or the last `retry`.
    public var attempt: Int64
    public var maxAttempts: Int64
    /// When the job becomes (or became) eligible to be claimed.
    public var runAt: Int64
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Set while `running` only.
    public var leaseExpiresAt: Int64?
    public var worker: String?
    public var progress: RawJSON?
    public var result: RawJSON?
    public var lastError: RawJSON?
    public var uniqueKey: String?
    public var concurrencyKey: String?
    public var timeoutMs: Int64?
    public var traceparent: String?
    public var tracestate: String?
    /// The jobs this one waits for, and those of them not completed yet.
    public var after: [Int64]
    public var waitingFor: [Int64]

    public init(
        id: Int64, queue: String, state: JobState, version: Int64, priority: Int64, payload: RawJSON,
        attempt: Int64, maxAttempts: Int64, runAt: Int64, createdAt: Int64, updatedAt: Int64,
        leaseExpiresAt: Int64?, worker: String?, progress: RawJSON?, result: RawJSON?, lastError: RawJSON?,
        uniqueKey: String?, concurrencyKey: String? = nil, timeoutMs: Int64? = nil, traceparent: String? = nil,
        tracestate: String? = nil, after: [Int64] = [], waitingFor: [Int64] = []
    ) {
        self.after = after
        self.waitingFor = waitingFor
        self.id = id
        self.queue = queue
        self.state = state
        self.version = version
        self.priority = priority
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.leaseExpiresAt = leaseExpiresAt
        self.worker = worker
        self.progress = progress
        self.result = result
        self.lastError = lastError
        self.uniqueKey = uniqueKey
        self.concurrencyKey = concurrencyKey
        self.timeoutMs = timeoutMs
        self.traceparent = traceparent
        self.tracestate = tracestate
    }

    /// The short form carried in `stale_version` and `invalid_state` errors.
    public var reference: JobReference { JobReference(id: id, version: version, state: state) }
}

/// `{"id", "version", "state"}`: what a rejected request learns about the job's present.
public struct JobReference: Sendable, Equatable {
    public var id: Int64
    public var version: Int64
    public var state: JobState

    public init(id: Int64, version: Int64, state: JobState) {
        self.id = id
        self.version = version
        self.state = state
    }
}

/// One entry of a job's history, stored in the same transaction as the change it records.
public struct JobEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case enqueued, claimed, progress, completed, failed
        case retryScheduled = "retry_scheduled"
        case leaseExpired = "lease_expired"
        case cancelled, retried, snoozed
        case timedOut = "timed_out"
        case dependenciesMet = "dependencies_met"
        /// A line of the job's log: `data` is `{"stream", "text"}`, `version` the job's.
        case log
    }

    /// Global, increasing across all jobs.
    public var seq: Int64
    public var at: Int64
    public var job: Int64
    public var queue: String
    public var kind: Kind
    /// The job's version and state after the change.
    public var version: Int64
    public var state: JobState
    public var data: RawJSON?
    /// Who caused the change (`pid@uid`), when a connected peer did.
    public var peer: String?

    public init(
        seq: Int64, at: Int64, job: Int64, queue: String, kind: Kind, version: Int64, state: JobState,
        data: RawJSON?, peer: String?
    ) {
        self.seq = seq
        self.at = at
        self.job = job
        self.queue = queue
        self.kind = kind
        self.version = version
        self.state = state
        self.data = data
        self.peer = peer
    }
}
