import DocketProtocol
import DocketServer
import DocketStore
import Foundation
import Logging
import NIOConcurrencyHelpers
import DocketTestSupport
import Testing

/// A coordinator over a real temporary database, driven by hand with a manual clock.
final class CoordinatorHarness {
    let backend: Backend
    let folder: URL
    /// The SQLite file or the PostgreSQL URL.
    let path: String
    let store: any JobStore
    let coordinator: Coordinator
    var now: Int64 = 1_795_000_000_000

    init(_ backend: Backend = .sqlite) throws {
        self.backend = backend
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("docket-coord-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        switch backend {
        case .sqlite:
            path = folder.appendingPathComponent("docket.db").path
            store = try SQLiteJobStore(path: path)
        case .postgresql:
            path = try TestPostgres.newStore()
            store = try PostgresJobStore(settings: try PostgresSettings(url: path), logger: Logger(label: "test"))
        }
        coordinator = Coordinator(store: store, jitter: { 0 })
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
        if backend == .postgresql {
            let url = path
            Thread.detachNewThread { TestPostgres.dropStore(url) }
        }
    }

    /// The SQLite store, for tests about SQLite itself.
    var sqlite: SQLiteJobStore { store as! SQLiteJobStore }

    /// Collects the answers a request gets.
    final class Inbox: Sendable {
        let replies = NIOLockedValueBox<[Reply]>([])
        var all: [Reply] { replies.withLockedValue { $0 } }
        var last: Reply? { all.last }
    }

    func command(_ operation: Op, origin: ConnectionOrigin = ConnectionOrigin(peer: "1@1"), inbox: Inbox = Inbox())
        -> (WriteCommand, Inbox)
    {
        (WriteCommand(action: .operation(operation), origin: origin) { reply in inbox.replies.withLockedValue { $0.append(reply) } }, inbox)
    }

    /// Runs one batch at the current time and delivers its answers, as the writer does.
    /// Events committed so far, in the order the coordinator handed them out.
    var events: [JobEvent] = []

    @discardableResult
    func run(_ commands: [WriteCommand] = []) -> Int {
        let outcome = coordinator.process(commands, now: now)
        for completion in outcome.completions { completion.respond(completion.reply) }
        events += outcome.events
        return outcome.completions.count
    }

    @discardableResult
    func send(_ operation: Op) -> Reply? {
        let (command, inbox) = command(operation)
        run([command])
        return inbox.last
    }

    func enqueue(_ queue: String = "q", runAt: RunAt = .now) -> Job? {
        guard case .enqueued(let job, _)? = send(.enqueue(EnqueueRequest(queue: queue, runAt: runAt))) else { return nil }
        return job
    }

    func park(_ queues: [String] = ["q"], waitMs: Int64 = 10_000, origin: ConnectionOrigin = ConnectionOrigin(peer: "1@1"))
        -> Inbox
    {
        let (command, inbox) = command(.claim(ClaimRequest(queues: queues, waitMs: waitMs)), origin: origin)
        run([command])
        return inbox
    }
}

extension Reply {
    var claimedJob: Job?? {
        guard case .claimed(let job) = self else { return nil }
        return .some(job)
    }
}

@Suite("Coordinator: batches, waiting claims and deadlines")
struct CoordinatorTests {
    /// A claim that finds nothing waits, and the enqueue that follows hands it the job in
    /// the same transaction.
    @Test(arguments: Backend.available) func waitingClaim_isServedByTheNextEnqueue(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let waiter = h.park()
        #expect(waiter.all.isEmpty)
        #expect(h.coordinator.waitingClaims == 1)
        let job = try #require(h.enqueue())
        #expect(waiter.last?.claimedJob??.id == job.id)
        #expect(waiter.last?.claimedJob??.state == .running)
        #expect(h.coordinator.waitingClaims == 0)
    }

    /// Waiters are served first come, first served, one job each.
    @Test(arguments: Backend.available) func waiters_areServedInArrivalOrder(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let first = h.park()
        let second = h.park()
        let third = h.park()
        let a = try #require(h.enqueue())
        let b = try #require(h.enqueue())
        #expect(first.last?.claimedJob??.id == a.id)
        #expect(second.last?.claimedJob??.id == b.id)
        #expect(third.all.isEmpty)
    }

    /// A waiter on other queues is passed over, and one waiting on several queues is served
    /// by any of them.
    @Test(arguments: Backend.available) func waiters_matchTheirQueues(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let onA = h.park(["a"])
        let onBC = h.park(["b", "c"])
        let job = try #require(h.enqueue("c"))
        #expect(onA.all.isEmpty)
        #expect(onBC.last?.claimedJob??.id == job.id)
    }

    /// When its wait runs out a claim is answered with `job: null`, at the deadline the
    /// coordinator reports.
    @Test(arguments: Backend.available) func waitingClaim_timesOutWithNull(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let waiter = h.park(waitMs: 500)
        #expect(h.coordinator.nextDeadline() == h.now + 500)
        h.now += 499
        h.run()
        #expect(waiter.all.isEmpty)
        h.now += 1
        h.run()
        #expect(waiter.all == [.claimed(nil)])
        #expect(h.coordinator.nextDeadline() == nil)
    }

    /// A waiter whose client has gone is dropped and never swallows a job.
    @Test(arguments: Backend.available) func goneWaiter_neverSwallowsAJob(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let origin = ConnectionOrigin(peer: "2@2")
        let gone = h.park(origin: origin)
        let present = h.park()
        origin.markClosed()
        let job = try #require(h.enqueue())
        #expect(gone.all.isEmpty)
        #expect(present.last?.claimedJob??.id == job.id)
        #expect(h.coordinator.waitingClaims == 0)
    }

    /// A delayed job wakes a waiter when its run_at comes, with no request in between.
    @Test(arguments: Backend.available) func delayedJob_wakesAWaiterAtRunAt(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let job = try #require(h.enqueue(runAt: .after(milliseconds: 2000)))
        let waiter = h.park(waitMs: 5000)
        #expect(waiter.all.isEmpty)
        #expect(h.coordinator.nextDeadline() == h.now + 2000)
        h.now += 2000
        h.run()
        #expect(waiter.last?.claimedJob??.id == job.id)
    }

    /// A passed lease returns the job to the queue and wakes a waiter; the old holder is stale.
    @Test(arguments: Backend.available) func leaseExpiry_wakesAWaiterAndFencesTheOldWorker(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        guard case .claimed(let held?)? = h.send(.claim(ClaimRequest(queues: ["q"], leaseMs: 1000))) else {
            Issue.record("claim failed")
            return
        }
        let waiter = h.park(waitMs: 60_000)
        #expect(h.coordinator.nextDeadline() == h.now + 1000)
        h.now += 1000
        h.run()
        let taken = try #require(waiter.last?.claimedJob ?? nil)
        #expect(taken.id == held.id && taken.version == held.version + 2)
        let late = h.send(.complete(CompleteRequest(fence: JobVersion(job: held.id, version: held.version))))
        guard case .failure(let error)? = late else {
            Issue.record("stale complete was accepted")
            return
        }
        #expect(error.code == .staleVersion)
        #expect(error.job == taken.reference)
    }

    /// A failed job retried after its backoff wakes a waiter when the backoff ends.
    @Test(arguments: Backend.available) func backoffEnd_wakesAWaiter(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        guard case .claimed(let held?)? = h.send(.claim(ClaimRequest(queues: ["q"]))) else { return }
        guard case .job(let failed)? = h.send(.fail(FailRequest(fence: JobVersion(job: held.id, version: held.version)))) else {
            Issue.record("fail was refused")
            return
        }
        let waiter = h.park(waitMs: 60_000)
        #expect(h.coordinator.nextDeadline() == failed.runAt)
        h.now = failed.runAt
        h.run()
        #expect(waiter.last?.claimedJob??.attempt == 2)
    }

    /// `retry` of a failed job wakes a waiter at once.
    @Test(arguments: Backend.available) func retry_wakesAWaiter(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        guard case .claimed(let held?)? = h.send(.claim(ClaimRequest(queues: ["q"]))),
            case .job(let failed)? = h.send(.fail(FailRequest(fence: JobVersion(job: held.id, version: held.version), retry: false)))
        else { return }
        let waiter = h.park()
        h.send(.retry(JobVersion(job: failed.id, version: failed.version)))
        #expect(waiter.last?.claimedJob??.id == held.id)
    }

    /// In one batch every request is answered and one bad request does not undo the others.
    @Test(arguments: Backend.available) func batch_oneFailureRollsBackAlone(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let (good1, inbox1) = h.command(.enqueue(EnqueueRequest(queue: "q")))
        let (bad, inbox2) = h.command(.cancel(JobVersion(job: 42, version: 1)))
        let (good2, inbox3) = h.command(.enqueue(EnqueueRequest(queue: "q")))
        #expect(h.run([good1, bad, good2]) == 3)
        guard case .enqueued? = inbox1.last, case .failure(let error)? = inbox2.last, case .enqueued? = inbox3.last else {
            Issue.record("unexpected answers")
            return
        }
        #expect(error.code == .notFound)
        #expect(try h.store.list(ListRequest()).jobs.count == 2)
    }

    /// A claim given back because its answer could not be delivered is claimable again and
    /// does not count as an attempt.
    @Test(arguments: Backend.available) func release_returnsTheJob(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        guard case .claimed(let held?)? = h.send(.claim(ClaimRequest(queues: ["q"]))) else { return }
        let waiter = h.park()
        h.run([WriteCommand(action: .release(JobVersion(job: held.id, version: held.version)), origin: ConnectionOrigin(peer: nil)) { _ in }])
        #expect(waiter.last?.claimedJob??.attempt == 1)
    }

    /// At shutdown every parked claim is answered with `job: null`.
    @Test(arguments: Backend.available) func shutdown_answersParkedClaimsWithNull(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let waiters = [h.park(), h.park(["other"])]
        for completion in h.coordinator.releaseAllWaiters() { completion.respond(completion.reply) }
        #expect(waiters.map(\.all) == [[.claimed(nil)], [.claimed(nil)]])
    }
}

@Suite("Coordinator: batch enqueue")
struct BatchEnqueueTests {
    /// A `jobs` array is stored in one savepoint, answers each job with its `created` flag in
    /// order, and hands eligible jobs to waiters of every queue it touched.
    @Test(arguments: Backend.available) func enqueueMany_storesAllAndServesWaiters(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let onA = h.park(["a"])
        let onB = h.park(["b"])
        _ = h.send(.enqueue(EnqueueRequest(queue: "a", uniqueKey: "k")))
        let reply = h.send(
            .enqueueMany([
                EnqueueRequest(queue: "a", uniqueKey: "k"), EnqueueRequest(queue: "b"),
                EnqueueRequest(queue: "b", runAt: .after(milliseconds: 1000)),
            ]))
        guard case .enqueuedMany(let results)? = reply else {
            Issue.record("unexpected \(String(describing: reply))")
            return
        }
        #expect(results.map(\.created) == [false, true, true])
        #expect(onA.last?.claimedJob??.uniqueKey == "k", "served by the first single enqueue")
        #expect(onB.last?.claimedJob??.id == results[1].job.id)
        #expect(try h.store.list(ListRequest()).jobs.count == 3)
    }
}

@Suite("Coordinator: retention and purge")
struct RetentionTests {
    func finish(_ h: CoordinatorHarness, _ how: (JobVersion) -> Op) -> Job? {
        _ = h.enqueue()
        guard case .claimed(let job?)? = h.send(.claim(ClaimRequest(queues: ["q"]))),
            case .job(let done)? = h.send(how(JobVersion(job: job.id, version: job.version)))
        else { return nil }
        return done
    }

    /// Completed and cancelled jobs and their events are deleted once their retention has
    /// passed, at a deadline the timer knows (up to `Retention.slackMs` late, so that pruning
    /// under steady traffic is not due at every batch); failed jobs stay.
    @Test(arguments: Backend.available) func finishedJobs_arePrunedAfterRetention(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let completed = try #require(finish(h) { .complete(CompleteRequest(fence: $0)) })
        let failed = try #require(finish(h) { .fail(FailRequest(fence: $0, retry: false)) })
        h.now += 5000
        let cancelled = try #require(finish(h) { .cancel($0) })
        // The timer may wake early for leases that no longer exist; then it knows the truth.
        h.now += 30_000
        h.run()
        #expect(h.coordinator.nextDeadline() == completed.updatedAt + Retention.week + Retention.slackMs)
        h.now = completed.updatedAt + Retention.week + Retention.slackMs
        h.run()
        #expect(try h.store.job(completed.id) == nil)
        #expect(try h.store.events(ofJob: completed.id).isEmpty)
        #expect(try h.store.job(cancelled.id) != nil, "not old enough yet")
        #expect(h.coordinator.nextDeadline() == cancelled.updatedAt + Retention.week + Retention.slackMs)
        h.now = cancelled.updatedAt + Retention.week + Retention.slackMs
        h.run()
        #expect(try h.store.job(cancelled.id) == nil)
        #expect(try h.store.job(failed.id)?.state == .failed, "failed jobs wait for a retry or a purge")
    }

    /// `purge` deletes finished jobs matching its filters, with their events, and nothing else.
    @Test(arguments: Backend.available) func purge_deletesMatchingFinishedJobs(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let failed = try #require(finish(h) { .fail(FailRequest(fence: $0, retry: false)) })
        let completed = try #require(finish(h) { .complete(CompleteRequest(fence: $0)) })
        let pending = try #require(h.enqueue())
        #expect(h.send(.purge(PurgeRequest(states: [.failed]))) == .purged(1))
        #expect(try h.store.job(failed.id) == nil && h.store.events(ofJob: failed.id).isEmpty)
        #expect(h.send(.purge(PurgeRequest(queue: "other"))) == .purged(0))
        #expect(h.send(.purge(PurgeRequest())) == .purged(1))
        #expect(try h.store.job(completed.id) == nil)
        #expect(try h.store.job(pending.id) != nil)
    }
}
