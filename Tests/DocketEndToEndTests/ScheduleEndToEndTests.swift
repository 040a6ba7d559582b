import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: schedules fire once per slot across restarts and kill -9")
struct ScheduleEndToEndTests {
    /// Moves a stopped daemon's schedule to a slot in the past, as if the daemon had been down
    /// while it came due (slots are whole minutes; a test does not wait for one).
    func backdate(_ daemon: Daemon, minutes: Int) async throws {
        let slot = (Int(Date().timeIntervalSince1970) / 60 - minutes) * 60_000
        switch daemon.backend {
        case .sqlite:
            try Shell.run("sqlite3 \(daemon.databasePath) \"UPDATE schedules SET next_run_at = \(slot) WHERE name = 'tick'\"")
        case .postgresql:
            let url = daemon.databasePath
            try await offload { try TestPostgres.psql(url, "UPDATE docket_schedules SET next_run_at = \(slot) WHERE name = 'tick'") }
        }
    }

    /// The jobs the schedule has enqueued, once the writer has done its start-up work: any
    /// change goes through the writer after that work, so its answer is the barrier.
    func jobCount(_ daemon: Daemon) async throws -> Int {
        let client = try await daemon.connect()
        defer { Task { await client.close() } }
        _ = try await client.send(["op": "claim", "queue": "barrier"])
        return try await client.send(["op": "list", "queue": "ticks"])["jobs"]?.array?.count ?? -1
    }

    /// Slots missed while down fire once on restart, never again on later restarts, and a
    /// `kill -9` right after firing does not fire the slot a second time.
    @Test(arguments: Backend.available) func missedSlot_firesOnceAcrossRestartsAndKillNine(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let client = try await daemon.connect()
        // A yearly schedule: no slot of its own comes due while the test runs, so every job
        // here comes from a backdated slot.
        let created = try await client.send([
            "op": "schedule_put", "name": "tick", "cron": "0 0 1 1 *", "queue": "ticks", "payload": ["n": 1], "version": 0,
        ])
        #expect(created["schedule"]?["version"] == 1)
        let stale = try await client.send(["op": "schedule_put", "name": "tick", "cron": "*/2 * * * *", "queue": "ticks", "version": 0])
        #expect(stale.errorCode == "stale_version" && stale["error"]?["schedule"]?["version"] == 1)
        await client.close()
        #expect(daemon.stop() == 0)

        try await backdate(daemon, minutes: 180)
        try await daemon.restart()
        #expect(try await jobCount(daemon) == 1, "three hours of missed slots fire once")
        daemon.crash()
        try await daemon.restart()
        #expect(try await jobCount(daemon) == 1, "a restart does not fire the slot again")

        daemon.crash()
        try await backdate(daemon, minutes: 5)
        try await daemon.restart()
        daemon.crash()
        try await daemon.restart()
        #expect(try await jobCount(daemon) == 2, "kill -9 after firing: still one job for the slot")
        let jobs = try await daemon.connect().send(["op": "list", "queue": "ticks"])["jobs"]?.array ?? []
        let keys = jobs.compactMap { $0["unique_key"]?.string }
        #expect(Set(keys).count == 2 && keys.allSatisfy { $0.hasPrefix("schedule:tick:") })
    }

    /// schedule_get, schedule_list and schedule_delete with its version.
    @Test(arguments: Backend.available) func readAndDelete(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let client = try await daemon.connect()
        _ = try await client.send(["op": "schedule_put", "name": "b", "cron": "0 3 * * mon-fri", "queue": "q", "version": 0])
        let nickname = try await client.send(["op": "schedule_put", "name": "a", "cron": "@daily", "queue": "q", "version": 0])
        #expect(nickname.errorCode == "bad_request", "only the five-field form is accepted")
        let bad = try await client.send(["op": "schedule_put", "name": "a", "cron": "61 * * * *", "queue": "q", "version": 0])
        #expect(bad.errorCode == "bad_request")
        #expect(bad["error"]?["message"]?.string?.contains("minute") == true)
        let list = try await client.send(["op": "schedule_list"])
        #expect(list["schedules"]?.array?.compactMap { $0["name"]?.string } == ["b"])
        let got = try await client.send(["op": "schedule_get", "name": "b"])
        #expect(got["schedule"]?["cron"] == "0 3 * * mon-fri" && got["schedule"]?["paused"] == false)
        #expect(try await client.send(["op": "schedule_delete", "name": "b", "version": 2]).errorCode == "stale_version")
        #expect(try await client.send(["op": "schedule_delete", "name": "b", "version": 1])["ok"] == true)
        #expect(try await client.send(["op": "schedule_get", "name": "b"]).errorCode == "not_found")
        await client.close()
    }
}
