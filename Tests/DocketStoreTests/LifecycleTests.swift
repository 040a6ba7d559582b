import DocketProtocol
import DocketStore
import DocketTestSupport
import Testing

@Suite("Job life cycle in the store")
struct LifecycleTests {
    /// Claims take the lowest priority first, then the earliest run_at, then the lowest id.
    @Test(arguments: Backend.available) func claimOrder_priorityThenRunAtThenID(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let late = try db.enqueue(priority: 5)
        let first = try db.enqueue(priority: -1)
        db.now += 10
        let second = try db.enqueue(priority: 0, runAt: .at(db.now - 5))
        let third = try db.enqueue(priority: 0)
        let order = try (0..<4).map { _ in try #require(try db.claim()).id }
        #expect(order == [first.id, second.id, third.id, late.id])
        #expect(try db.claim() == nil)
    }

    /// A claim over several queues takes the best job across all of them.
    @Test(arguments: Backend.available) func claimAcrossQueues_takesTheBestOfAll(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        try db.enqueue("a", priority: 3)
        let best = try db.enqueue("b", priority: 1)
        try db.enqueue("c", priority: 0)
        #expect(try db.claim(["a", "b"])?.id == best.id)
    }

    /// A claim moves the job to running, counts the attempt, sets the lease and the worker.
    @Test(arguments: Backend.available) func claim_setsLeaseAttemptAndWorker(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let job = try db.enqueue()
        let claimed = try #require(try db.claim(leaseMs: 5000))
        #expect(claimed.id == job.id)
        #expect(claimed.state == .running)
        #expect(claimed.version == 2)
        #expect(claimed.attempt == 1)
        #expect(claimed.leaseExpiresAt == db.now + 5000)
        #expect(claimed.worker == "w")
    }

    /// A delayed job is not claimable until promoted at its run_at, and keeps its version.
    @Test(arguments: Backend.available) func delayedJob_becomesEligibleAtRunAt(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let job = try db.enqueue(runAt: .after(milliseconds: 1000))
        #expect(job.state == .pending)
        #expect(try db.claim() == nil)
        #expect(try db.store.nextDeadline() == db.now + 1000)
        db.now += 999
        #expect(try db.change { store throws(StoreError) in try store.promoteDueJobs(db.context) }.isEmpty)
        db.now += 1
        #expect(try db.change { store throws(StoreError) in try store.promoteDueJobs(db.context) } == ["q"])
        #expect(try db.claim()?.version == 2)
    }

    /// The same unique_key in the same queue returns the stored job instead of a second one.
    @Test(arguments: Backend.available) func uniqueKey_isIdempotentPerQueue(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let first = try db.change { store throws(StoreError) in
            try store.enqueue(EnqueueRequest(queue: "q", uniqueKey: "order-7"), db.context)
        }
        let again = try db.change { store throws(StoreError) in
            try store.enqueue(EnqueueRequest(queue: "q", payload: RawJSON("other"), uniqueKey: "order-7"), db.context)
        }
        let otherQueue = try db.change { store throws(StoreError) in
            try store.enqueue(EnqueueRequest(queue: "r", uniqueKey: "order-7"), db.context)
        }
        #expect(first.created && !again.created && otherQueue.created)
        #expect(again.job == first.job)
        #expect(otherQueue.job.id != first.job.id)
        #expect(try db.store.events(ofJob: first.job.id).count == 1)
    }

    /// `fail` retries after min(max, initial·2^(attempt-1)) ±10% jitter, then fails for good.
    @Test(arguments: Backend.available) func fail_backsOffThenFailsWhenAttemptsRunOut(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        try db.enqueue(maxAttempts: 3)
        var delays: [Int64] = []
        for (attempt, jitter) in [(1, 1.0), (2, -1.0)] {
            let claimed = try #require(try db.claim())
            #expect(claimed.attempt == Int64(attempt))
            let failed = try db.change { store throws(StoreError) in
                try store.fail(FailRequest(fence: JobVersion(job: claimed.id, version: claimed.version), error: RawJSON("x")), jitter: jitter, db.context)
            }
            #expect(failed.state == .pending)
            #expect(failed.lastError == RawJSON("x"))
            delays.append(failed.runAt - db.now)
            #expect(try db.claim() == nil, "not eligible during backoff")
            db.now = failed.runAt
            _ = try db.change { store throws(StoreError) in try store.promoteDueJobs(db.context) }
        }
        #expect(delays == [1100, 1800])
        let last = try #require(try db.claim())
        let failed = try db.change { store throws(StoreError) in
            try store.fail(FailRequest(fence: JobVersion(job: last.id, version: last.version)), jitter: 0, db.context)
        }
        #expect(failed.state == .failed)
        #expect(failed.attempt == 3)
    }

    /// The backoff formula caps at max_ms and survives huge attempt counts.
    @Test func backoff_formula() {
        #expect(Backoff.delay(attempt: 1, initial: 1000, maximum: 3_600_000, jitter: 0) == 1000)
        #expect(Backoff.delay(attempt: 4, initial: 1000, maximum: 3_600_000, jitter: 0) == 8000)
        #expect(Backoff.delay(attempt: 40, initial: 1000, maximum: 3_600_000, jitter: 0) == 3_600_000)
        #expect(Backoff.delay(attempt: 999, initial: 1000, maximum: 3_600_000, jitter: -1) == 3_240_000)
    }

    /// `retry_in_ms` replaces the backoff; `retry: false` fails at once with attempts left.
    @Test(arguments: Backend.available) func fail_overrides(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        try db.enqueue()
        let claimed = try #require(try db.claim())
        let now = try db.change { store throws(StoreError) in
            try store.fail(FailRequest(fence: JobVersion(job: claimed.id, version: claimed.version), retryInMs: 0), jitter: 1, db.context)
        }
        #expect(now.state == .pending && now.runAt == db.now)
        let again = try #require(try db.claim())
        let final = try db.change { store throws(StoreError) in
            try store.fail(FailRequest(fence: JobVersion(job: again.id, version: again.version), retry: false), jitter: 0, db.context)
        }
        #expect(final.state == .failed && final.attempt == 2)
    }

    /// A passed lease puts the job back (version bumped, so the old worker is fenced off),
    /// or fails it when no attempts remain.
    @Test(arguments: Backend.available) func leaseExpiry_requeuesThenFails(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        try db.enqueue(maxAttempts: 2)
        let first = try #require(try db.claim(leaseMs: 100))
        #expect(try db.store.nextDeadline() == db.now + 100)
        db.now += 100
        let expired = try db.change { store throws(StoreError) in try store.expireLeases(db.context) }
        #expect(expired.map(\.state) == [.pending])
        #expect(expired.first?.version == first.version + 1)
        #expect(throws: StoreError.staleVersion(expired[0].reference, expected: first.version)) {
            try FencedOp.complete.apply(JobVersion(job: first.id, version: first.version), in: db)
        }
        let second = try #require(try db.claim(leaseMs: 100))
        #expect(second.attempt == 2)
        db.now += 100
        let last = try db.change { store throws(StoreError) in try store.expireLeases(db.context) }
        #expect(last.map(\.state) == [.failed])
        #expect(try db.store.events(ofJob: first.id).map(\.kind) == [.enqueued, .claimed, .leaseExpired, .claimed, .leaseExpired])
    }

    /// Progress renews the lease by the claim's length unless told otherwise.
    @Test(arguments: Backend.available) func progress_renewsTheLease(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        try db.enqueue()
        let claimed = try #require(try db.claim(leaseMs: 1000))
        db.now += 500
        let renewed = try db.change { store throws(StoreError) in
            try store.progress(ProgressRequest(fence: JobVersion(job: claimed.id, version: claimed.version)), db.context)
        }
        #expect(renewed.leaseExpiresAt == db.now + 1000)
        #expect(renewed.progress == nil)
        let longer = try db.change { store throws(StoreError) in
            try store.progress(ProgressRequest(fence: JobVersion(job: claimed.id, version: renewed.version), progress: RawJSON(3), leaseMs: 9000), db.context)
        }
        #expect(longer.leaseExpiresAt == db.now + 9000)
        #expect(longer.progress == RawJSON(3))
    }

    /// `retry` of a failed job starts it over: pending now, attempt 0.
    @Test(arguments: Backend.available) func retry_startsOver(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let failed = try StartingState.failed.make(in: db)
        let retried = try FencedOp.retry.apply(JobVersion(job: failed.id, version: failed.version), in: db)
        #expect(retried.state == .pending && retried.attempt == 0 && retried.runAt == db.now)
        #expect(try db.claim()?.id == failed.id)
    }

    /// A refused change writes nothing, so the batch around it commits as if it had not been
    /// asked: the writer relies on this instead of a savepoint per request.
    @Test(arguments: Backend.available) func refusedChange_leavesTheTransactionUntouched(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let running = try StartingState.running.make(in: db)
        let fence = JobVersion(job: running.id, version: running.version)
        let stale = JobVersion(job: running.id, version: running.version - 1)
        try db.store.begin()
        let kept = try db.store.enqueue(EnqueueRequest(queue: "q"), db.context).job
        func expectRefusal(_ change: () throws(StoreError) -> Job) {
            #expect { _ = try change() } throws: { ($0 as? StoreError)?.isRefusal == true }
        }
        expectRefusal { () throws(StoreError) in try db.store.cancel(JobVersion(job: 999, version: 1), db.context) }
        expectRefusal { () throws(StoreError) in try db.store.complete(CompleteRequest(fence: stale), db.context) }
        expectRefusal { () throws(StoreError) in try db.store.retry(fence, db.context) }
        expectRefusal { () throws(StoreError) in try db.store.fail(FailRequest(fence: stale), jitter: 0, db.context) }
        expectRefusal { () throws(StoreError) in
            try db.store.progress(ProgressRequest(fence: stale, progress: RawJSON(1)), db.context)
        }
        let events = try db.store.commit()
        #expect(events.map(\.job) == [kept.id], "only the accepted change left an event")
        #expect(try db.store.job(running.id) == running, "the refused changes left the job as it was")
        #expect(try db.store.list(ListRequest()).jobs.map(\.id) == [running.id, kept.id])
    }

    /// `list` pages by id with a cursor and filters by queue and state; `counts` groups them.
    @Test(arguments: Backend.available) func listAndCounts(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        for index in 0..<5 { try db.enqueue(index % 2 == 0 ? "even" : "odd") }
        try db.enqueue("even", runAt: .after(milliseconds: 1000))
        _ = try db.claim(["odd"])
        let page1 = try db.store.list(ListRequest(limit: 2))
        #expect(page1.jobs.map(\.id) == [1, 2] && page1.next == 2)
        let page2 = try db.store.list(ListRequest(limit: 10, after: page1.next))
        #expect(page2.jobs.map(\.id) == [3, 4, 5, 6] && page2.next == nil)
        #expect(try db.store.list(ListRequest(queue: "even", state: .pending)).jobs.map(\.id) == [1, 3, 5, 6])
        #expect(try db.store.list(ListRequest(state: .running)).jobs.map(\.id) == [2])
        let counts = try db.store.counts()
        #expect(counts.map(\.queue) == ["even", "odd"])
        #expect(counts[0].counts.map(\.state) == [.pending] && counts[0].counts.map(\.count) == [4])
        #expect(counts[1].counts.map(\.state) == [.pending, .running] && counts[1].counts.map(\.count) == [1, 1])
    }

    /// Ids and seqs are never reused, also across a restart: after the newest job and its
    /// events are purged the next job and event get new ones, so an old (id, version) pair
    /// can never fence a different job and a watcher's `since` never skips a new event.
    @Test(arguments: Backend.available) func ids_areNeverReused(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let newest = try StartingState.completed.make(in: db)
        let lastSeq = try #require(try db.store.events(ofJob: newest.id).last?.seq)
        #expect(try db.change { store throws(StoreError) in try store.purge(PurgeRequest()) } == 1)
        #expect(try db.store.events(ofJob: newest.id).isEmpty, "the newest events went with the job")
        #expect(try db.enqueue().id == newest.id + 1)
        let reopened = try db.reopen()
        try reopened.begin()
        let afterRestart = try reopened.enqueue(EnqueueRequest(queue: "q"), db.context).job
        let events = try reopened.commit()
        #expect(afterRestart.id == newest.id + 2)
        #expect(events.map(\.seq) == [lastSeq + 2], "one seq went to the enqueue before the restart")
    }

    /// A reader on its own connection sees committed changes only.
    @Test(arguments: Backend.available) func reader_seesCommittedStateOnly(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let reader = try db.store.makeReader()
        try db.store.begin()
        let job = try db.store.enqueue(EnqueueRequest(queue: "q"), db.context).job
        #expect(try reader.job(job.id) == nil)
        try db.store.commit()
        #expect(try reader.job(job.id) == job)
    }
}
