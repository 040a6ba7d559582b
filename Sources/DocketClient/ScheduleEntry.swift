import DocketProtocol

/// A cron schedule as the daemon reports it: when ``nextRunAt`` passes, one job is enqueued
/// into ``queue`` with ``payload``.
public struct ScheduleEntry: Sendable, Equatable {
    public var name: String
    /// Five fields, in UTC: minute, hour, day of month, month, day of week.
    public var cron: String
    public var queue: String
    public var payload: RawJSON
    public var priority: Int64
    public var maxAttempts: Int64
    public var paused: Bool
    /// 1 when created, +1 with every edit; edits and deletes must carry it.
    public var version: Int64
    /// Milliseconds since the epoch.
    public var nextRunAt: Int64?
    public var lastRunAt: Int64?

    public init(
        name: String, cron: String, queue: String, payload: RawJSON = .null, priority: Int64 = 0,
        maxAttempts: Int64 = Defaults.maxAttempts, paused: Bool = false, version: Int64 = 0, nextRunAt: Int64? = nil,
        lastRunAt: Int64? = nil
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
    }

    /// Reads a schedule object.
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "schedule")
        self.init(
            name: try f.string("name"), cron: try f.string("cron"), queue: try f.string("queue"), payload: f.json("payload"),
            priority: try f.int("priority"), maxAttempts: try f.int("max_attempts"), paused: try f.bool("paused"),
            version: try f.int("version"), nextRunAt: try f.optionalTime("next_run_at"),
            lastRunAt: try f.optionalTime("last_run_at"))
    }

    /// The schedule's members as the contract names them.
    public var json: JSONValue {
        [
            "name": .string(name), "cron": .string(cron), "queue": .string(queue), "payload": payload.value,
            "priority": .int(priority), "max_attempts": .int(maxAttempts), "paused": .bool(paused), "version": .int(version),
            "next_run_at": nextRunAt.map { .string(Timestamp.format(milliseconds: $0)) } ?? .null,
            "last_run_at": lastRunAt.map { .string(Timestamp.format(milliseconds: $0)) } ?? .null,
        ]
    }
}
