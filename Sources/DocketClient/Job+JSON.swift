import DocketProtocol

extension Job {
    /// Reads a job object as the daemon sends it (`protocol/README.md`, section 3).
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "job")
        self.init(
            id: try f.int("id"), queue: try f.string("queue"), state: try f.state("state"), version: try f.int("version"),
            priority: try f.int("priority"), payload: f.json("payload"), attempt: try f.int("attempt"),
            maxAttempts: try f.int("max_attempts"), runAt: try f.time("run_at"), createdAt: try f.time("created_at"),
            updatedAt: try f.time("updated_at"), leaseExpiresAt: try f.optionalTime("lease_expires_at"),
            worker: try f.optionalString("worker"), progress: f.optionalJSON("progress"), result: f.optionalJSON("result"),
            lastError: f.optionalJSON("last_error"), uniqueKey: try f.optionalString("unique_key"),
            concurrencyKey: try f.optionalString("concurrency_key"), timeoutMs: json["timeout_ms"]?.int64,
            traceparent: try f.optionalString("traceparent"), tracestate: try f.optionalString("tracestate"),
            after: json["after"]?.array?.compactMap(\.int64) ?? [], waitingFor: json["waiting_for"]?.array?.compactMap(\.int64) ?? [])
    }

    /// The job as the daemon writes it: the same members in the same order.
    public var json: JSONValue {
        var writer = JSONWriter()
        ResponseEncoder.writeJob(&writer, self)
        return (try? JSONParser.parse(writer.bytes)) ?? .null
    }
}

extension JobEvent {
    /// Reads an event object (`protocol/README.md`, section 12).
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "event")
        let type = try f.string("type")
        guard let kind = Kind(rawValue: type) else { throw DocketClientError.invalidResponse("event.type \"\(type)\" is not known") }
        self.init(
            seq: try f.int("seq"), at: try f.time("at"), job: try f.int("job"), queue: try f.string("queue"), kind: kind,
            version: try f.int("version"), state: try f.state("state"), data: f.optionalJSON("data"),
            peer: try f.optionalString("peer"))
    }

    /// The event as the daemon writes it.
    public var json: JSONValue {
        var writer = JSONWriter()
        ResponseEncoder.writeEventBody(&writer, self)
        return (try? JSONParser.parse(writer.bytes)) ?? .null
    }
}

extension JobReference {
    /// Reads the `{"id", "version", "state"}` of a `stale_version` or `invalid_state` error.
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "error.job")
        self.init(id: try f.int("id"), version: try f.int("version"), state: try f.state("state"))
    }
}

extension ScheduleReference {
    /// Reads the `{"name", "version"}` of a schedule's `stale_version` error.
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "error.schedule")
        self.init(name: try f.string("name"), version: try f.int("version"))
    }
}

extension Schedule {
    /// Reads a schedule object.
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "schedule")
        let text = try f.string("cron")
        let cron: CronExpression
        do { cron = try CronExpression(text) } catch { throw DocketClientError.invalidResponse("schedule.cron: \(error)") }
        self.init(
            name: try f.string("name"), cron: cron, queue: try f.string("queue"), payload: f.json("payload"),
            priority: try f.int("priority"), maxAttempts: try f.int("max_attempts"), paused: try f.bool("paused"),
            version: try f.int("version"), nextRunAt: try f.time("next_run_at"), lastRunAt: try f.optionalTime("last_run_at"),
            createdAt: try f.time("created_at"), updatedAt: try f.time("updated_at"))
    }

    /// The schedule as the daemon writes it.
    public var json: JSONValue {
        var writer = JSONWriter()
        ResponseEncoder.writeSchedule(&writer, self)
        return (try? JSONParser.parse(writer.bytes)) ?? .null
    }
}

extension Statistics {
    /// Reads a `stats` answer.
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "stats")
        guard let queues = json["queues"]?.object else { throw DocketClientError.invalidResponse("stats.queues is not an object") }
        let counts = try queues.members.map { member in
            guard let states = member.value.object else {
                throw DocketClientError.invalidResponse("stats.queues.\(member.key) is not an object")
            }
            return (
                queue: member.key,
                counts: try states.members.map { entry in
                    guard let state = JobState(rawValue: entry.key), let count = entry.value.int64 else {
                        throw DocketClientError.invalidResponse("stats.queues.\(member.key).\(entry.key) is not a state count")
                    }
                    return (state: state, count: count)
                })
        }
        self.init(
            queues: counts, connections: Int(try f.int("connections")), waitingClaims: Int(try f.int("waiting_claims")),
            uptimeMs: try f.int("uptime_ms"))
    }
}

extension Statistics {
    /// The statistics as the daemon writes them.
    public var json: JSONValue {
        let counts = JSONObject(queues.map { entry in
            (key: entry.queue, value: .object(JSONObject(entry.counts.map { (key: $0.state.rawValue, value: .int($0.count)) })))
        })
        return [
            "queues": .object(counts), "connections": .int(connections), "waiting_claims": .int(waitingClaims),
            "uptime_ms": .int(uptimeMs),
        ]
    }
}

extension ServerInfo {
    /// Reads a `hello` answer.
    init(json: JSONValue) throws {
        let f = try JSONFields(json, "hello")
        let server = try JSONFields(json["server"] ?? .null, "server")
        let limits = try JSONFields(json["limits"] ?? .null, "limits")
        let version = try f.int("protocol")
        guard version == 1 else { throw DocketClientError.unsupportedProtocol(version) }
        var known = Limits()
        known.maxLineBytes = Int(try limits.int("max_line_bytes"))
        known.maxLeaseMs = try limits.int("max_lease_ms")
        known.maxWaitMs = try limits.int("max_wait_ms")
        // Daemons from before the PostgreSQL store do not say; they served SQLite only.
        self.init(
            name: try server.string("name"), version: try server.string("version"), limits: known,
            store: json["store"]?.string ?? "sqlite")
    }
}
