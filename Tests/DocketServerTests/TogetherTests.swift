import DocketProtocol
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

/// A batch's requests from different clients go to the store in groups by kind
/// (`Coordinator+Together`); what each client sees must not change.
@Suite("Coordinator: requests of one batch applied together")
struct CoordinatorTogetherTests {
    func claimed(_ h: CoordinatorHarness) throws -> Job {
        guard case .claimed(let job?)? = h.send(.claim(ClaimRequest(queues: ["q"]))) else { throw StoreError.storage("no job") }
        return job
    }

    /// One client's pipelined requests keep their order (its progress, then its complete at
    /// the version the progress made), while another client's complete in the same batch
    /// goes with the group.
    @Test(arguments: Backend.available) func oneClientsRequests_keepTheirOrder(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        _ = h.enqueue()
        let mine = try claimed(h)
        let theirs = try claimed(h)
        let client = ConnectionOrigin(peer: "7@1")
        let (progress, progressed) = h.command(
            .progress(ProgressRequest(fence: JobVersion(job: mine.id, version: mine.version), progress: RawJSON(["p": 1]))), origin: client)
        let (complete, completed) = h.command(.complete(CompleteRequest(fence: JobVersion(job: mine.id, version: mine.version + 1))), origin: client)
        let (other, otherDone) = h.command(.complete(CompleteRequest(fence: JobVersion(job: theirs.id, version: theirs.version))))
        #expect(h.run([progress, complete, other]) == 3)
        guard case .job(let afterProgress)? = progressed.last, case .job(let done)? = completed.last, case .job(let theirsDone)? = otherDone.last else {
            Issue.record("unexpected answers: \(progressed.all) \(completed.all) \(otherDone.all)")
            return
        }
        #expect(afterProgress.version == mine.version + 1)
        #expect(done.state == .completed && done.version == mine.version + 2)
        #expect(theirsDone.state == .completed)
    }

    /// Claims parked before a batch are served before the batch's own claims, and the
    /// batch's claims and enqueues meet: every job goes to exactly one claim.
    @Test(arguments: Backend.available) func parkedClaims_comeFirst(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let parked = h.park()
        let (claim, claimInbox) = h.command(.claim(ClaimRequest(queues: ["q"])))
        let (waitingClaim, waitingInbox) = h.command(.claim(ClaimRequest(queues: ["q"], waitMs: 5000)))
        let enqueues = (0..<2).map { _ in h.command(.enqueue(EnqueueRequest(queue: "q"))) }
        h.run([claim, waitingClaim] + enqueues.map(\.0))
        let first = try #require(parked.last?.claimedJob ?? nil)
        let second = try #require(claimInbox.last?.claimedJob ?? nil)
        #expect(Set([first.id, second.id]) == Set(enqueues.compactMap { inbox -> Int64? in
            guard case .enqueued(let job, _)? = inbox.1.last else { return nil }
            return job.id
        }))
        #expect(waitingInbox.all.isEmpty)
        #expect(h.coordinator.waitingClaims == 1)
        let third = try #require(h.enqueue())
        #expect(waitingInbox.last?.claimedJob??.id == third.id)
    }

    /// Two clients completing one job at one version in the same batch: one is applied,
    /// the other refused as stale; the job is completed once.
    @Test(arguments: Backend.available) func doubleCompletion_inOneBatch_appliesOnce(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        let job = try claimed(h)
        let fence = JobVersion(job: job.id, version: job.version)
        let (a, aInbox) = h.command(.complete(CompleteRequest(fence: fence, result: RawJSON(["by": "a"]))))
        let (b, bInbox) = h.command(.complete(CompleteRequest(fence: fence, result: RawJSON(["by": "b"]))))
        h.run([a, b])
        let answers = [aInbox.last, bInbox.last]
        #expect(answers.filter { if case .job(let done)? = $0 { done.state == .completed } else { false } }.count == 1)
        #expect(answers.filter { if case .failure(let error)? = $0 { error.code == .staleVersion } else { false } }.count == 1)
        #expect(h.events.filter { $0.job == job.id && $0.kind == .completed }.count == 1)
    }
}
