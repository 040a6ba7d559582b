import DocketProtocol

extension DocketClient {
    /// Creates (version 0) or changes (the version last seen) a queue's settings. Members
    /// left nil keep their value; `.some(nil)` clears a limit. A stale version throws
    /// ``DocketError`` with code `stale_version` and changes nothing.
    public func queuePut(_ change: QueuePutRequest) async throws -> QueueInfo {
        func limit(_ value: Int64??) -> JSONValue? { value.map { $0.map(JSONValue.int) ?? .null } }
        let rate = change.rate.map { rate in rate.map { request(nil, ["max": .int($0.max), "per_ms": .int($0.perMs)]) } ?? .null }
        let answer = try await call(
            request(
                "queue_put",
                [
                    "queue": .string(change.queue), "version": .int(change.version), "paused": change.paused.map(JSONValue.bool),
                    "max_running": limit(change.maxRunning), "max_running_per_key": limit(change.maxRunningPerKey), "rate": rate,
                ]),
            resend: .unsafe)
        return try QueueInfo(json: answer["queue"] ?? .null)
    }

    /// One queue's settings and counts (version 0 and no limits when none are stored).
    public func queueGet(name: String) async throws -> QueueInfo {
        try QueueInfo(json: try await call(request("queue_get", ["queue": .string(name)]), resend: .safe)["queue"] ?? .null)
    }

    /// Every queue that has jobs or settings, by name.
    public func queueList() async throws -> [QueueInfo] {
        let answer = try await call(["op": "queue_list"], resend: .safe)
        return try JSONFields(answer, "queue_list").array("queues").map(QueueInfo.init(json:))
    }
}

extension QueueInfo {
    /// Reads a queue object.
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "queue")
        func limit(_ key: String) throws -> Int64? {
            guard let member = json[key], !member.isNull else { return nil }
            return try f.int(key)
        }
        var rate: RateLimit?
        if let member = json["rate"], !member.isNull {
            let r = try JSONFields(member, "queue.rate")
            rate = RateLimit(max: try r.int("max"), perMs: try r.int("per_ms"))
        }
        var counts: [JobState: Int64] = [:]
        for (state, count) in json["counts"]?.object?.members ?? [] {
            if let state = JobState(rawValue: state), let count = count.int64 { counts[state] = count }
        }
        self.init(
            settings: QueueSettings(
                name: try f.string("name"), paused: try f.bool("paused"), maxRunning: try limit("max_running"),
                maxRunningPerKey: try limit("max_running_per_key"), rate: rate, version: try f.int("version")),
            counts: counts)
    }

    /// The queue as the daemon writes it.
    public var json: JSONValue {
        var writer = JSONWriter()
        ResponseEncoder.writeQueue(&writer, self)
        return (try? JSONParser.parse(writer.bytes)) ?? .null
    }
}
