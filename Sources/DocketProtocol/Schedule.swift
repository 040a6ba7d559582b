/// A recurring job definition: when `nextRunAt` passes, one job is enqueued for that slot.
public struct Schedule: Sendable, Equatable {
    public var name: String
    public var cron: CronExpression
    public var queue: String
    public var payload: RawJSON
    public var priority: Int64
    public var maxAttempts: Int64
    /// A paused schedule keeps its definition but fires nothing.
    public var paused: Bool
    /// 1 when created, +1 with every edit; edits and deletes must carry it.
    public var version: Int64
    /// The next slot to fire.
    public var nextRunAt: Int64
    /// The last slot that fired, if any.
    public var lastRunAt: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        name: String, cron: CronExpression, queue: String, payload: RawJSON, priority: Int64, maxAttempts: Int64,
        paused: Bool, version: Int64, nextRunAt: Int64, lastRunAt: Int64?, createdAt: Int64, updatedAt: Int64
    ) {
        self.name = name
        self.cron = cron
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.paused = paused
        self.version = version
        self.nextRunAt = nextRunAt
        self.lastRunAt = lastRunAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The `unique_key` of the job a slot enqueues, so a slot can never enqueue twice.
    public static func uniqueKey(name: String, slot: Int64) -> String {
        "schedule:\(name):\(Timestamp.format(milliseconds: slot))"
    }

    /// The job that firing the slot `nextRunAt` enqueues: keyed by the slot, so a slot that
    /// fires again (another daemon, a crash before the advance) finds it already there.
    public var dueJob: EnqueueRequest {
        EnqueueRequest(
            queue: queue, payload: payload, priority: priority, maxAttempts: maxAttempts,
            uniqueKey: Self.uniqueKey(name: name, slot: nextRunAt))
    }

    /// The slot after firing the due one at `now`: the next after now, not after the fired
    /// one, so slots missed while the daemon was down fire once, not once each.
    public func slot(afterFiringAt now: Int64) -> Int64 {
        cron.next(after: max(nextRunAt, now)) ?? Int64.max
    }

    /// The longest name a schedule may be given: its jobs' unique keys must stay within the
    /// limit a client's `unique_key` has (a slot up to year 9999 is written in 24 bytes).
    public static func maxNameBytes(keyLimit: Int) -> Int {
        keyLimit - uniqueKey(name: "", slot: 0).utf8.count
    }
}

/// `{"name", "version"}`: what a rejected schedule edit learns about the schedule's present.
public struct ScheduleReference: Sendable, Equatable {
    public var name: String
    public var version: Int64

    public init(name: String, version: Int64) {
        self.name = name
        self.version = version
    }
}

public struct SchedulePutRequest: Sendable, Equatable {
    public var name: String
    public var cron: CronExpression
    public var queue: String
    public var payload: RawJSON
    public var priority: Int64
    public var maxAttempts: Int64
    public var paused: Bool
    /// 0 creates the schedule; otherwise the version being edited.
    public var version: Int64

    public init(
        name: String, cron: CronExpression, queue: String, payload: RawJSON = .null, priority: Int64 = 0,
        maxAttempts: Int64 = Defaults.maxAttempts, paused: Bool = false, version: Int64
    ) {
        self.name = name
        self.cron = cron
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.paused = paused
        self.version = version
    }
}

public struct ScheduleDeleteRequest: Sendable, Equatable {
    public var name: String
    public var version: Int64

    public init(name: String, version: Int64) {
        self.name = name
        self.version = version
    }
}

/// Which events a `watch` streams.
public enum WatchScope: Sendable, Equatable {
    case everything
    case queue(String)
    case job(Int64)

    public func matches(_ event: JobEvent) -> Bool {
        switch self {
        case .everything: return true
        case .queue(let queue): return event.queue == queue
        case .job(let id): return event.job == id
        }
    }
}

public struct WatchRequest: Sendable, Equatable {
    public var scope: WatchScope
    /// Replay stored events after this seq before going live.
    public var since: Int64?
    /// Whether `log` events are streamed too.
    public var logs: Bool

    public init(scope: WatchScope, since: Int64? = nil, logs: Bool = false) {
        self.scope = scope
        self.since = since
        self.logs = logs
    }
}
