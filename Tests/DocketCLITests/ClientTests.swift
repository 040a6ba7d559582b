import DocketClient
import DocketProtocol
import Foundation
import Testing

@Suite("DocketClient against a real docketd")
struct ClientTests {
    @Test func lifeCycle_carriesVersions() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let server = try await client.hello()
        #expect(server.name == "docketd" && server.limits.maxLineBytes == 1 << 20)
        let queued = try await client.enqueue(queue: "emails", payload: ["to": "a@b"], maxAttempts: 5, uniqueKey: "welcome:a@b")
        #expect(queued.created && queued.job.version == 1 && queued.job.maxAttempts == 5)
        let again = try await client.enqueue(queue: "emails", payload: ["to": "a@b"], uniqueKey: "welcome:a@b")
        #expect(!again.created && again.job.id == queued.job.id)
        var job = try #require(try await client.claim(queues: ["emails"], lease: .seconds(60), worker: "agent-7"))
        #expect(job.state == .running && job.worker == "agent-7" && job.attempt == 1)
        job = try await client.progress(job: job.id, version: job.version, progress: ["pct": 50])
        #expect(job.progress == RawJSON(["pct": 50]))
        job = try await client.complete(job: job.id, version: job.version, result: ["sent": true])
        #expect(job.state == .completed && job.version == 4)
        let history = try await client.history(job: job.id)
        #expect(history.events.map(\.kind) == [.enqueued, .claimed, .progress, .completed])
        #expect(try await client.claim(queues: ["emails"]) == nil)
        let stats = try await client.stats()
        #expect(stats.queues.first?.queue == "emails" && stats.queues.first?.counts.first?.count == 1)
    }

    @Test func refusals_areTypedWithTheJobsPresent() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let id = try await client.enqueue(queue: "q").job.id
        _ = try await client.claim(queues: ["q"])

        let stale = await #expect(throws: DocketError.self) { try await client.complete(job: id, version: 1) }
        #expect(stale?.code == .staleVersion)
        #expect(stale?.currentVersion == 2 && stale?.currentState == .running)
        #expect(stale?.job == JobReference(id: id, version: 2, state: .running))

        let invalid = await #expect(throws: DocketError.self) { try await client.retry(job: id, version: 2) }
        #expect(invalid?.code == .invalidState && invalid?.currentState == .running)

        let missing = await #expect(throws: DocketError.self) { try await client.get(job: 99) }
        #expect(missing?.code == .notFound && missing?.job == nil)

        let bad = await #expect(throws: DocketError.self) { try await client.claim(queues: ["q"], lease: .zero) }
        #expect(bad?.code == .badRequest && bad?.message.contains("lease_ms") == true)

        // Relayed (as `docket mcp` does) with every member of the error, not only those this
        // client reads.
        let relayed = try await client.send(["op": "queue_put", "queue": "q", "version": 5, "paused": true])
        #expect(relayed["error"]?["code"] == "stale_version")
        #expect(relayed["error"]?["queue"]?["version"] == 0)
    }

    /// Many calls in flight at once on one connection, each getting its own answer.
    @Test func concurrentCalls_arePipelinedOnOneConnection() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
            for n in 0..<300 { group.addTask { try await client.enqueue(queue: "p", payload: .int(n)).job.id } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(ids) == Set(1...300))
        let payloads = try await withThrowingTaskGroup(of: (Int64, JSONValue).self) { group in
            for id in ids { group.addTask { (id, try await client.get(job: id).payload.value) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(payloads.count == 300)
        #expect(try await client.stats().connections == 1)
    }

    @Test func afterARestart_callsReconnect() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        _ = try await client.enqueue(queue: "r")
        daemon.stop()
        try await daemon.restart()
        #expect(try await client.get(job: 1).queue == "r")
        #expect(try await client.enqueue(queue: "r").job.id == 2)
    }

    /// A read whose answer was lost is sent again; a change is not, since it may have applied.
    @Test func lostAnswers_resendReadsButNeverChanges() async throws {
        let server = try SilentServer()
        let client = try await DocketClient.connect(socketPath: server.path)
        let change = await #expect(throws: DocketClientError.self) { try await client.enqueue(queue: "w") }
        #expect(change?.description.contains("may or may not have been applied") == true)
        #expect(server.received.count == 1)
        // Dropped once, then sent again and answered.
        let read = await #expect(throws: DocketError.self) { try await client.get(job: 1) }
        #expect(read?.code == .notFound)
        #expect(server.received.filter { $0.contains("\"get\"") }.count == 2)
    }

    @Test func noDaemon_isReportedAtOnce() async throws {
        let start = ContinuousClock.now
        let error = await #expect(throws: DocketClientError.self) {
            try await DocketClient.connect(socketPath: "/tmp/dkc-none-\(getpid()).sock", reconnect: .standard)
        }
        // Well within the 30 s the policy would spend on reconnecting (the bound leaves room
        // for a machine running the rest of the suite, both stores' daemons among it).
        #expect(ContinuousClock.now - start < .seconds(20))
        #expect(error?.description.contains("Is docketd running?") == true)
    }

    @Test func watch_deliversEventsAndResumesAfterARestart() async throws {
        let daemon = try await TestDaemon.started()
        try #require(try await daemon.serves(["op": "watch"]), "this docketd does not serve watch yet")
        let client = daemon.client()
        let events = try await client.watch(.queue("w"))
        var iterator = events.makeAsyncIterator()
        let id = try await client.enqueue(queue: "w").job.id
        _ = try await client.enqueue(queue: "other")
        let first = try #require(try await iterator.next())
        #expect(first.job == id && first.kind == .enqueued)

        daemon.stop()
        try await daemon.restart()
        // Made while the watch may still be reconnecting: the resume replays it.
        let job = try #require(try await client.claim(queues: ["w"]))
        _ = try await client.complete(job: job.id, version: job.version)
        var seen: [JobEvent.Kind] = []
        while seen.count < 2, let event = try await iterator.next() {
            #expect(event.seq > first.seq && event.queue == "w")
            seen.append(event.kind)
        }
        #expect(seen == [.claimed, .completed])
    }

    @Test func watchOfAJob_endsAtItsFinalEvent() async throws {
        let daemon = try await TestDaemon.started()
        try #require(try await daemon.serves(["op": "watch"]), "this docketd does not serve watch yet")
        let client = daemon.client()
        let job = try await client.enqueue(queue: "j").job
        let events = try await client.watch(.job(job.id))
        _ = try await client.cancel(job: job.id, version: job.version)
        var kinds: [JobEvent.Kind] = []
        for try await event in events { kinds.append(event.kind) }
        #expect(kinds == [.cancelled])
    }

    @Test func schedules_areFencedByVersion() async throws {
        let daemon = try await TestDaemon.started()
        try #require(try await daemon.serves(["op": "schedule_list"]), "this docketd does not serve schedules yet")
        let client = daemon.client()
        let put = SchedulePutRequest(name: "nightly", cron: try CronExpression("0 3 * * *"), queue: "reports", version: 0)
        let created = try await client.schedulePut(put)
        #expect(created.version == 1 && created.cron.description == "0 3 * * *")
        #expect(try await client.scheduleGet(name: "nightly") == created)
        let stale = await #expect(throws: DocketError.self) { try await client.schedulePut(put) }
        #expect(stale?.code == .staleVersion && stale?.schedule?.version == 1)
        try await client.scheduleDelete(name: "nightly", version: 1)
        #expect(try await client.scheduleList().isEmpty)
    }
}

@Suite("DocketClient: batches and maintenance")
struct ClientMaintenanceTests {
    @Test func batchEnqueue_answersEachJobInOrder() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let results = try await client.enqueue([
            NewJob(queue: "a", payload: 1), NewJob(queue: "b", payload: 2, uniqueKey: "k"), NewJob(queue: "b", uniqueKey: "k"),
        ])
        #expect(results.map(\.job.id) == [1, 2, 2] && results.map(\.created) == [true, true, false])
        let refused = await #expect(throws: DocketError.self) { try await client.enqueue([NewJob(queue: "a", maxAttempts: 0)]) }
        #expect(refused?.code == .badRequest && refused?.message.contains("jobs[0].max_attempts") == true)
    }

    @Test func purgeAndBackup() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let job = try await client.enqueue(queue: "p").job
        _ = try await client.cancel(job: job.id, version: job.version)
        _ = try await client.enqueue(queue: "p")
        #expect(try await client.purge(queue: "p") == 1)
        await #expect(throws: DocketError.self) { try await client.get(job: job.id) }
        let path = daemon.folder.appendingPathComponent("copy.db").path
        #expect(try await client.backup(path: path) > 0)
        // Never overwrites.
        let again = await #expect(throws: DocketError.self) { try await client.backup(path: path) }
        #expect(again?.message.contains("exists") == true, "\(String(describing: again))")
    }
}
