import DocketProtocol

extension DocketClient {
    /// Creates a schedule (`version` 0) or replaces the one at `version`.
    ///
    /// - Throws: ``DocketError`` `stale_version` (with ``DocketError/schedule``) when the
    ///   schedule was edited since `version` was read, or exists when creating.
    public func schedulePut(_ schedule: SchedulePutRequest) async throws -> Schedule {
        let answer = try await call(
            request(
                "schedule_put",
                [
                    "name": .string(schedule.name), "cron": .string(schedule.cron.description), "queue": .string(schedule.queue),
                    "payload": schedule.payload.value, "priority": .int(schedule.priority),
                    "max_attempts": .int(schedule.maxAttempts), "paused": .bool(schedule.paused), "version": .int(schedule.version),
                ]),
            resend: .unsafe)
        return try Schedule(json: answer["schedule"] ?? .null)
    }

    /// Reads one schedule.
    public func scheduleGet(name: String) async throws -> Schedule {
        try Schedule(json: try await call(request("schedule_get", ["name": .string(name)]), resend: .safe)["schedule"] ?? .null)
    }

    /// Deletes the schedule if it is still at `version`.
    public func scheduleDelete(name: String, version: Int64) async throws {
        _ = try await call(request("schedule_delete", ["name": .string(name), "version": .int(version)]), resend: .unsafe)
    }

    /// Every schedule, by name.
    public func scheduleList() async throws -> [Schedule] {
        let answer = try await call(["op": "schedule_list"], resend: .safe)
        return try JSONFields(answer, "schedule_list").array("schedules").map(Schedule.init(json:))
    }
}
