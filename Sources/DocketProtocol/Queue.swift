/// At most `max` claims of a queue within any `perMs` milliseconds.
public struct RateLimit: Sendable, Equatable {
    public var max: Int64
    public var perMs: Int64

    public init(max: Int64, perMs: Int64) {
        self.max = max
        self.perMs = perMs
    }
}

/// A queue's stored settings: what claims of it obey. A queue without stored settings has
/// version 0 and these defaults (not paused, no limits).
public struct QueueSettings: Sendable, Equatable {
    public var name: String
    public var paused: Bool
    /// Most jobs of the queue `running` at once; nil: no limit.
    public var maxRunning: Int64?
    /// Most `running` jobs of the queue sharing one `concurrency_key`; nil: no limit.
    public var maxRunningPerKey: Int64?
    public var rate: RateLimit?
    /// 0 until first stored, +1 with every change; the fence `queue_put` must match.
    public var version: Int64

    public init(
        name: String, paused: Bool = false, maxRunning: Int64? = nil, maxRunningPerKey: Int64? = nil,
        rate: RateLimit? = nil, version: Int64 = 0
    ) {
        self.name = name
        self.paused = paused
        self.maxRunning = maxRunning
        self.maxRunningPerKey = maxRunningPerKey
        self.rate = rate
        self.version = version
    }

    /// Whether a claim must look at anything but the jobs: the fast path is for the rest.
    public var holdsClaims: Bool {
        paused || maxRunning != nil || maxRunningPerKey != nil || rate != nil
    }

    /// The short form carried in a `stale_version` error.
    public var reference: QueueReference { QueueReference(name: name, version: version) }

    /// The settings after `request`: members it gives replace these, the rest stay.
    public func applying(_ request: QueuePutRequest) -> QueueSettings {
        var next = self
        if let paused = request.paused { next.paused = paused }
        if let maxRunning = request.maxRunning { next.maxRunning = maxRunning }
        if let maxRunningPerKey = request.maxRunningPerKey { next.maxRunningPerKey = maxRunningPerKey }
        if let rate = request.rate { next.rate = rate }
        next.version = version + 1
        return next
    }

    /// The largest `max_running`, `max_running_per_key` and `rate.max`.
    public static let maxLimit: Int64 = 1_000_000
    /// The longest rate window: one day.
    public static let maxRatePerMs: Int64 = 86_400_000
}

/// `{"name", "version"}`: what a stale `queue_put` learns about the settings' present.
public struct QueueReference: Sendable, Equatable {
    public var name: String
    public var version: Int64

    public init(name: String, version: Int64) {
        self.name = name
        self.version = version
    }
}

/// A queue as `queue_get` and `queue_list` show it: its settings and its job counts.
public struct QueueInfo: Sendable, Equatable {
    public var settings: QueueSettings
    /// Job counts by state; states with no jobs are left out.
    public var counts: [JobState: Int64]

    public init(settings: QueueSettings, counts: [JobState: Int64]) {
        self.settings = settings
        self.counts = counts
    }
}

/// `queue_put`: each member nil keeps the stored value; `.some(nil)` clears a limit.
public struct QueuePutRequest: Sendable, Equatable {
    public var queue: String
    /// 0 to create the settings, else the version last seen.
    public var version: Int64
    public var paused: Bool?
    public var maxRunning: Int64??
    public var maxRunningPerKey: Int64??
    public var rate: RateLimit??

    public init(
        queue: String, version: Int64, paused: Bool? = nil, maxRunning: Int64?? = nil, maxRunningPerKey: Int64?? = nil,
        rate: RateLimit?? = nil
    ) {
        self.queue = queue
        self.version = version
        self.paused = paused
        self.maxRunning = maxRunning
        self.maxRunningPerKey = maxRunningPerKey
        self.rate = rate
    }
}
