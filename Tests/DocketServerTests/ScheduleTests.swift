import DocketProtocol
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

@Suite("Schedules: edits fenced by version, exactly one job per slot")
struct ScheduleTests {
    func put(_ h: CoordinatorHarness, cron: String = "*/5 * * * *", version: Int64, paused: Bool = false) throws -> Reply? {
        h.send(.schedulePut(SchedulePutRequest(name: "nightly", cron: try CronExpression(cron), queue: "reports", payload: RawJSON(["kind": "daily"]), paused: paused, version: version)))
    }

    func jobs(_ h: CoordinatorHarness) throws -> [Job] {
        try h.store.list(ListRequest(queue: "reports")).jobs
    }

    /// Version 0 creates; the current version edits (version + 1); any other version is
    /// `stale_version` and changes nothing — a scheduler can never overwrite an operator.
    @Test(arguments: Backend.available) func edits_areFencedByVersion(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        guard case .schedule(let created)? = try put(h, version: 0) else { Issue.record("create failed"); return }
        #expect(created.version == 1)
        guard case .failure(let again)? = try put(h, version: 0) else { Issue.record("second create accepted"); return }
        #expect(again.code == .staleVersion && again.schedule == ScheduleReference(name: "nightly", version: 1))
        guard case .schedule(let edited)? = try put(h, cron: "0 * * * *", version: 1) else { Issue.record("edit failed"); return }
        #expect(edited.version == 2 && edited.cron.description == "0 * * * *")
        guard case .failure(let stale)? = try put(h, cron: "1 * * * *", version: 1) else { Issue.record("stale edit accepted"); return }
        #expect(stale.code == .staleVersion)
        #expect(try h.store.schedule(named: "nightly")?.cron.description == "0 * * * *")
        guard case .failure(let staleDelete)? = h.send(.scheduleDelete(ScheduleDeleteRequest(name: "nightly", version: 1))) else { return }
        #expect(staleDelete.code == .staleVersion)
        #expect(h.send(.scheduleDelete(ScheduleDeleteRequest(name: "nightly", version: 2))) == .done)
        guard case .failure(let gone)? = h.send(.scheduleDelete(ScheduleDeleteRequest(name: "nightly", version: 2))) else { return }
        #expect(gone.code == .notFound)
    }

    /// When a slot comes, exactly one job is enqueued with the slot's unique key, and the
    /// schedule moves to its next slot; the deadline timer knows when.
    @Test(arguments: Backend.available) func dueSlot_firesOnce(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.now = Timestamp.parse("2026-11-23T10:02:30.000Z")!
        guard case .schedule(let schedule)? = try put(h, version: 0) else { return }
        let slot = Timestamp.parse("2026-11-23T10:05:00.000Z")!
        #expect(schedule.nextRunAt == slot)
        #expect(h.coordinator.nextDeadline() == slot)
        h.now = slot - 1
        h.run()
        #expect(try jobs(h).isEmpty)
        h.now = slot
        h.run()
        h.run()
        let fired = try jobs(h)
        #expect(fired.count == 1)
        #expect(fired.first?.uniqueKey == "schedule:nightly:2026-11-23T10:05:00.000Z")
        #expect(fired.first?.payload == RawJSON(["kind": "daily"]))
        let after = try #require(try h.store.schedule(named: "nightly"))
        #expect(after.lastRunAt == slot && after.nextRunAt == slot + 300_000)
        #expect(after.version == 1, "firing is not an edit")
    }

    /// Slots missed while the daemon was down fire once, not once each.
    @Test(arguments: Backend.available) func missedSlots_fireOnce(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.now = Timestamp.parse("2026-11-23T10:00:00.000Z")!
        _ = try put(h, version: 0)
        h.now = Timestamp.parse("2026-11-23T13:01:00.000Z")!
        h.run()
        #expect(try jobs(h).count == 1)
        #expect(try h.store.schedule(named: "nightly")?.nextRunAt == Timestamp.parse("2026-11-23T13:05:00.000Z"))
    }

    /// A paused schedule fires nothing; resumed, it starts from its next slot after now.
    @Test(arguments: Backend.available) func pausedSchedule_firesNothing(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.now = Timestamp.parse("2026-11-23T10:00:00.000Z")!
        _ = try put(h, version: 0, paused: true)
        #expect(h.coordinator.nextDeadline() == nil)
        h.now += 3_600_000
        h.run()
        #expect(try jobs(h).isEmpty)
        guard case .schedule(let resumed)? = try put(h, version: 1, paused: false) else { return }
        #expect(resumed.nextRunAt == Timestamp.parse("2026-11-23T11:05:00.000Z"))
    }

    /// Re-firing a slot (as after a crash that lost the advance) cannot enqueue a second job:
    /// the slot's unique key is taken.
    @Test(arguments: Backend.available) func refiredSlot_isIdempotent(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.now = Timestamp.parse("2026-11-23T10:04:00.000Z")!
        _ = try put(h, version: 0)
        let key = Schedule.uniqueKey(name: "nightly", slot: Timestamp.parse("2026-11-23T10:05:00.000Z")!)
        h.send(.enqueue(EnqueueRequest(queue: "reports", uniqueKey: key)))
        h.now = Timestamp.parse("2026-11-23T10:05:00.000Z")!
        h.run()
        #expect(try jobs(h).count == 1)
    }
}

@Suite("Events: stored with every change, in one global order")
struct EventOrderTests {
    /// Every committed change yields one event, handed out after commit in increasing seq,
    /// the same as stored; a rolled-back request leaves no event behind.
    @Test(arguments: Backend.available) func events_areCommittedInOrder(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let (a, _) = h.command(.enqueue(EnqueueRequest(queue: "q")))
        let (bad, _) = h.command(.cancel(JobVersion(job: 99, version: 1)))
        let (b, _) = h.command(.enqueue(EnqueueRequest(queue: "q")))
        h.run([a, bad, b])
        _ = h.send(.claim(ClaimRequest(queues: ["q"])))
        #expect(h.events.map(\.kind) == [.enqueued, .enqueued, .claimed])
        #expect(h.events.map(\.seq) == h.events.map(\.seq).sorted() && Set(h.events.map(\.seq)).count == 3)
        let reader = try h.store.makeReader()
        #expect(try reader.events(after: 0, scope: .everything, limit: 100) == h.events)
        #expect(try reader.events(after: h.events[0].seq, scope: .job(h.events[2].job), limit: 100) == [h.events[2]])
    }

    /// "Events of job N in order" and "events after seq S" are index lookups, not scans.
    @Test func eventQueries_useIndexes() throws {
        let h = try CoordinatorHarness()
        let byJob = try h.sqlite.queryPlan("SELECT seq FROM events WHERE job = 1 AND seq > 0 ORDER BY seq")
        #expect(byJob.joined().contains("events_job") && !byJob.joined().contains("TEMP B-TREE"))
        let after = try h.sqlite.queryPlan("SELECT seq FROM events WHERE seq > 10 ORDER BY seq")
        #expect(after.joined().contains("INTEGER PRIMARY KEY") && !after.joined().contains("SCAN"))
    }
}
