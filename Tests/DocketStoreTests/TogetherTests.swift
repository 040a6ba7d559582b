import DocketProtocol
import DocketStore
import DocketTestSupport
import Testing

/// The grouped forms the coordinator uses for requests of several clients in one batch
/// (`JobStore+Together`): each must come out as its items applied one by one, in order.
@Suite("Requests of several clients applied together")
struct TogetherTests {
    /// Plain enqueues get ids in their order, and each event names its own client.
    @Test(arguments: Backend.available) func enqueuePlain_inOrderWithEachPeer(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let peers = ["1@1", "2@1", "3@1"]
        var batch = TogetherBatch()
        batch.enqueues = peers.enumerated().map { index, peer in
            (EnqueueRequest(queue: "q", payload: RawJSON(["n": .int(Int64(index))])), ChangeContext(now: db.now, peer: peer))
        }
        let jobs = try db.change { store throws(StoreError) in try store.apply(together: batch).enqueued }
        #expect(jobs.map(\.id) == jobs.map(\.id).sorted())
        #expect(jobs.map(\.payload) == (0..<3).map { RawJSON(["n": .int(Int64($0))]) })
        #expect(jobs.allSatisfy { $0.state == .pending && $0.version == 1 })
        let recorded = try jobs.map { job in try db.store.events(ofJob: job.id).map(\.peer) }
        #expect(recorded == peers.map { [$0] })
    }

    /// Claims together take the best jobs in claim order, each with its own lease and
    /// worker; a claim left over finds nothing.
    @Test(arguments: Backend.available) func claimTogether_bestJobsInClaimOrder(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let late = try db.enqueue(priority: 5)
        let best = try db.enqueue(priority: -1)
        let middle = try db.enqueue(priority: 0)
        let items = (1...4).map { n in
            ClaimItem(request: ClaimRequest(queues: ["q"], leaseMs: Int64(n) * 1000), worker: "w\(n)", context: db.context)
        }
        let outcomes = try db.change { store throws(StoreError) in try store.claim(together: items) }
        #expect(outcomes.map(\.job?.id) == [best.id, middle.id, late.id, nil])
        #expect(outcomes.prefix(3).map(\.job?.worker) == ["w1", "w2", "w3"])
        #expect(outcomes.prefix(3).map(\.job?.leaseExpiresAt) == [1, 2, 3].map { db.now + $0 * 1000 })
        #expect(outcomes.prefix(3).allSatisfy { $0.job?.state == .running && $0.job?.version == 2 && $0.job?.attempt == 1 })
        #expect(try db.claim() == nil)
    }

    /// A queue with a limit hands out no more than the limit, however many claim together,
    /// and says it held the others back.
    @Test(arguments: Backend.available) func claimTogether_obeysTheQueueLimit(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        _ = try db.change { store throws(StoreError) in
            try store.putQueue(QueuePutRequest(queue: "q", version: 0, maxRunning: 1), db.context)
        }
        for _ in 0..<3 { try db.enqueue() }
        let items = (1...3).map { ClaimItem(request: ClaimRequest(queues: ["q"]), worker: "w\($0)", context: db.context) }
        let outcomes = try db.change { store throws(StoreError) in try store.claim(together: items) }
        #expect(outcomes.compactMap(\.job).count == 1)
        #expect(outcomes.filter { $0.job == nil }.allSatisfy { $0.heldBack == ["q"] })
    }

    /// Completions together: a stale one and one of no job are refused each alone, with the
    /// reason a single `complete` gives, and change nothing; the rest complete.
    @Test(arguments: Backend.available) func completeTogether_refusesEachBadItemAlone(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        for _ in 0..<3 { try db.enqueue() }
        let running = try (0..<3).map { _ in try #require(try db.claim()) }
        let requests = [
            CompleteRequest(fence: JobVersion(job: running[0].id, version: running[0].version), result: RawJSON(["ok": 1])),
            CompleteRequest(fence: JobVersion(job: running[1].id, version: running[1].version - 1)),
            CompleteRequest(fence: JobVersion(job: running[2].id, version: running[2].version)),
            CompleteRequest(fence: JobVersion(job: 999_999, version: 1)),
        ]
        var batch = TogetherBatch()
        batch.completes = requests.map { ($0, db.context) }
        let results = try db.change { store throws(StoreError) in try store.apply(together: batch).completed }
        #expect(try results[0].get().state == .completed)
        #expect(try results[0].get().result == RawJSON(["ok": 1]))
        #expect(throws: StoreError.staleVersion(running[1].reference, expected: running[1].version - 1)) { try results[1].get() }
        #expect(try results[2].get().version == running[2].version + 1)
        #expect(throws: StoreError.jobNotFound(999_999)) { try results[3].get() }
        #expect(try db.store.job(running[1].id) == running[1])
    }

    /// A completion together releases the jobs that waited for it, as one alone does.
    @Test(arguments: Backend.available) func completeTogether_releasesDependents(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let first = try db.enqueue()
        let second = try db.enqueue()
        let waiting = try db.change { store throws(StoreError) in
            try store.enqueue(EnqueueRequest(queue: "later", after: [first.id]), db.context).job
        }
        #expect(waiting.waitingFor == [first.id])
        let claimed = try (0..<2).map { _ in try #require(try db.claim()) }
        #expect(Set(claimed.map(\.id)) == [first.id, second.id])
        var batch = TogetherBatch()
        batch.completes = claimed.map { (CompleteRequest(fence: JobVersion(job: $0.id, version: $0.version)), db.context) }
        let released = try db.change { store throws(StoreError) in
            _ = try store.apply(together: batch)
            return store.takeReleased()
        }
        #expect(released.queues == ["later"])
        #expect(try db.store.job(waiting.id)?.state == .pending)
    }

    /// All kinds in one call: the claims see the jobs enqueued before them in the same call,
    /// and a job completed twice at one version is completed once, the second refused.
    @Test(arguments: Backend.available) func applyTogether_kindsInOrder(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        try db.enqueue()
        let running = try #require(try db.claim())
        let fence = JobVersion(job: running.id, version: running.version)
        var batch = TogetherBatch()
        batch.enqueues = (0..<2).map { _ in (EnqueueRequest(queue: "q"), db.context) }
        batch.claims = [(0..<3).map { _ in ClaimItem(request: ClaimRequest(queues: ["q"]), worker: "w", context: db.context) }]
        batch.completes = [(CompleteRequest(fence: fence), db.context), (CompleteRequest(fence: fence), db.context)]
        let results = try db.change { store throws(StoreError) in try store.apply(together: batch) }
        #expect(results.claimed[0].map(\.job?.id) == results.enqueued.map(\.id) + [nil])
        #expect(try results.completed[0].get().state == .completed)
        #expect(throws: StoreError.staleVersion(try results.completed[0].get().reference, expected: fence.version)) {
            try results.completed[1].get()
        }
    }
}
