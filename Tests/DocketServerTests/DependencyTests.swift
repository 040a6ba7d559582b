import DocketProtocol
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

extension CoordinatorHarness {
    func enqueueAll(_ requests: [EnqueueRequest]) -> [Job] {
        guard case .enqueuedMany(let results)? = send(.enqueueMany(requests)) else { return [] }
        return results.map(\.job)
    }

    func job(_ id: Int64) throws -> Job { try #require(try store.job(id)) }

    func claimAndFinish(_ id: Int64, fail: Bool = false) throws -> Job {
        let claimed = try #require(claim()?.claimedJob ?? nil)
        #expect(claimed.id == id)
        let fence = JobVersion(job: claimed.id, version: claimed.version)
        guard case .job(let ended)? = send(fail ? .fail(FailRequest(fence: fence, retry: false)) : .complete(CompleteRequest(fence: fence)))
        else { throw StoreError.storage("the finish was refused") }
        return ended
    }
}

@Suite("Dependencies: after, after_index, release and cancellation")
struct DependencyTests {
    /// A graph goes in with one request; a job is not eligible until its dependencies
    /// complete, and then becomes eligible in the same transaction, waking a waiting claim.
    @Test(arguments: Backend.available) func graph_releasesInOrder(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let jobs = h.enqueueAll([
            EnqueueRequest(queue: "q", payload: RawJSON("download")),
            EnqueueRequest(queue: "q", payload: RawJSON("transcode"), afterIndex: [0]),
            EnqueueRequest(queue: "q", payload: RawJSON("subtitles")),
            EnqueueRequest(queue: "q", payload: RawJSON("publish"), afterIndex: [1, 2]),
        ])
        #expect(jobs.map(\.state) == [.pending, .pending, .pending, .pending])
        #expect(jobs[3].after == [jobs[1].id, jobs[2].id] && jobs[3].waitingFor == [jobs[1].id, jobs[2].id])
        _ = try h.claimAndFinish(jobs[0].id)
        let released = try h.job(jobs[1].id)
        #expect(released.waitingFor.isEmpty && released.version == 2)
        #expect(try h.store.events(ofJob: jobs[1].id).last?.kind == .dependenciesMet)
        _ = try h.claimAndFinish(jobs[1].id)
        let halfway = try h.job(jobs[3].id)
        #expect(halfway.waitingFor == [jobs[2].id] && halfway.version == 1, "waiting_for shrinks; the version stays")
        let subtitles = try #require(h.claim()?.claimedJob ?? nil)
        let waiter = h.park()
        #expect(waiter.all.isEmpty)
        _ = h.complete(subtitles)
        #expect(waiter.last?.claimedJob??.id == jobs[3].id, "the release wakes a waiting claim in the same batch")
    }

    /// A released job is eligible from its release, so its run_at moves there (one still
    /// ahead stays): it queues behind jobs that were eligible before it, and queue lag and
    /// the wait histogram, which read run_at on whichever daemon claims it, count from then.
    @Test(arguments: Backend.available) func release_movesRunAtToTheRelease(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let enqueuedAt = h.now
        let jobs = h.enqueueAll([
            EnqueueRequest(queue: "q", payload: RawJSON("first")),
            EnqueueRequest(queue: "q", payload: RawJSON("then"), afterIndex: [0]),
            EnqueueRequest(queue: "q", payload: RawJSON("tomorrow"), runAt: .after(milliseconds: 86_400_000), afterIndex: [0]),
        ])
        h.now += 5000
        let meanwhile = try #require(h.enqueue())
        h.now += 5000
        _ = try h.claimAndFinish(jobs[0].id)
        #expect(try h.job(jobs[1].id).runAt == h.now)
        #expect(try h.job(jobs[2].id).runAt == enqueuedAt + 86_400_000)
        #expect(try h.store.oldestEligible() == ["q": meanwhile.runAt])
        #expect(h.claim()?.claimedJob??.id == meanwhile.id, "eligible before the release, so claimed first")
    }

    /// Three levels with a failure in the middle: everything downstream is cancelled in the
    /// same transaction, transitively, naming the dependency; a retry waits again.
    @Test(arguments: Backend.available) func failureInTheMiddle_cancelsDownstream(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let jobs = h.enqueueAll([
            EnqueueRequest(queue: "q", payload: RawJSON("a")), EnqueueRequest(queue: "q", payload: RawJSON("b"), afterIndex: [0]),
            EnqueueRequest(queue: "q", payload: RawJSON("c"), afterIndex: [1]), EnqueueRequest(queue: "q", payload: RawJSON("d"), afterIndex: [2]),
        ])
        _ = try h.claimAndFinish(jobs[0].id)
        let failed = try h.claimAndFinish(jobs[1].id, fail: true)
        #expect(failed.state == .failed)
        for job in [jobs[2], jobs[3]] {
            let cancelled = try h.job(job.id)
            #expect(cancelled.state == .cancelled && cancelled.version == 2)
            #expect(cancelled.lastError?.value["code"] == "dependency_failed")
        }
        #expect(try h.job(jobs[2].id).lastError?.value["job"] == .int(jobs[1].id))
        #expect(try h.job(jobs[3].id).lastError?.value["job"] == .int(jobs[2].id))
        guard case .job(let retried)? = h.send(.retry(JobVersion(job: jobs[2].id, version: 2))) else { return }
        #expect(retried.state == .pending && retried.waitingFor == [jobs[1].id], "waits again for what is not completed")
        #expect(h.claim()?.claimedJob == .some(nil))
        guard case .job(let again)? = h.send(.retry(JobVersion(job: failed.id, version: failed.version))) else { return }
        _ = try h.claimAndFinish(again.id)
        #expect(try h.job(jobs[2].id).waitingFor.isEmpty)
    }

    /// A dependency that does not exist refuses the enqueue, and the whole batch with it.
    @Test(arguments: Backend.available) func unknownDependency_enqueuesNothing(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        guard case .failure(let single)? = h.send(.enqueue(EnqueueRequest(queue: "q", after: [1, 99]))) else { return }
        #expect(single.code == .notFound && single.message.contains("99"))
        guard case .failure(let batch)? = h.send(.enqueueMany([EnqueueRequest(queue: "q"), EnqueueRequest(queue: "q", after: [98])]))
        else { return }
        #expect(batch.code == .notFound)
        #expect(try h.store.counts().flatMap(\.counts).map(\.count).reduce(0, +) == 1, "nothing of either was stored")
    }

    /// A job enqueued after a dependency that already failed is cancelled at once; one after a
    /// completed one is eligible at once.
    @Test(arguments: Backend.available) func finishedDependencies_settleAtEnqueue(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        _ = h.enqueue()
        let done = try h.claimAndFinish(1)
        let failed = try h.claimAndFinish(2, fail: true)
        guard case .enqueued(let ready, _)? = h.send(.enqueue(EnqueueRequest(queue: "q", after: [done.id]))) else { return }
        #expect(ready.waitingFor.isEmpty && ready.version == 1)
        #expect(h.claim()?.claimedJob??.id == ready.id)
        guard case .enqueued(let doomed, _)? = h.send(.enqueue(EnqueueRequest(queue: "q", after: [failed.id]))) else { return }
        #expect(doomed.state == .cancelled && doomed.lastError?.value["state"] == "failed")
    }

    /// after_index on an item that its unique_key matched to a stored job waits for that job
    /// as it is: not at all once it completed, cancelled at once if it failed.
    @Test(arguments: Backend.available) func afterIndex_onAStoredJob_seesItsState(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.send(.enqueue(EnqueueRequest(queue: "q", uniqueKey: "done")))
        _ = try h.claimAndFinish(1)
        let jobs = h.enqueueAll([EnqueueRequest(queue: "q", uniqueKey: "done"), EnqueueRequest(queue: "q", afterIndex: [0])])
        #expect(jobs.map(\.id) == [1, 2])
        #expect(jobs[1].after == [1] && jobs[1].waitingFor.isEmpty)
        #expect(h.claim()?.claimedJob??.id == 2)
    }

    /// 10,000 dependents of one job are released by its completion, in that transaction.
    /// The heavy steps run off the test pool's two threads, which end-to-end tests need.
    @Test(arguments: Backend.available) func tenThousandDependents_releasedAtOnce(_ backend: Backend) async throws {
        let h = try CoordinatorHarness(backend)
        let root = try #require(h.enqueue())
        let harness = HarnessBox(h)
        try await offload {
            for _ in 0..<10 { _ = harness.value.enqueueAll((0..<1000).map { _ in EnqueueRequest(queue: "fanout", after: [root.id]) }) }
        }
        #expect(try h.store.counts().first { $0.queue == "fanout" }?.counts.map(\.count) == [10_000])
        #expect(h.send(.claim(ClaimRequest(queues: ["fanout"])))?.claimedJob == .some(nil), "all blocked")
        let claimed = try #require(h.claim()?.claimedJob ?? nil)
        #expect(claimed.id == root.id)
        let finished = try await offload { harness.value.complete(claimed) }
        guard case .job(let completed)? = finished else {
            Issue.record("the root's completion was refused: \(String(describing: finished))")
            return
        }
        #expect(completed.state == .completed)
        let page = try h.store.list(ListRequest(queue: "fanout", state: .pending, limit: 1000, after: nil))
        #expect(page.jobs.count == 1000 && page.jobs.allSatisfy { $0.waitingFor.isEmpty && $0.version == 2 })
        #expect(h.send(.claim(ClaimRequest(queues: ["fanout"])))?.claimedJob??.queue == "fanout")
    }
}

/// Hands a harness to `offload`: the test waits for the thread, so they never touch it at once.
final class HarnessBox: @unchecked Sendable {
    let value: CoordinatorHarness
    init(_ value: CoordinatorHarness) { self.value = value }
}
