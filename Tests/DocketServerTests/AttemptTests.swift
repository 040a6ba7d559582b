import DocketProtocol
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

@Suite("Attempts: timeouts and snooze, through the coordinator")
struct AttemptTests {
    func claimWithTimeout(_ h: CoordinatorHarness, timeoutMs: Int64 = 1000, maxAttempts: Int64 = 3) throws -> Job {
        _ = h.send(.enqueue(EnqueueRequest(queue: "q", maxAttempts: maxAttempts, timeoutMs: timeoutMs)))
        return try #require(h.claim()?.claimedJob ?? nil)
    }

    /// The attempt ends when its timeout passes, progress or not, through the deadline timer,
    /// as a fail with {"code": "timeout"} would; the old worker's next request is stale.
    @Test(arguments: Backend.available) func timeout_endsTheAttemptDespiteProgress(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let claimed = try claimWithTimeout(h)
        #expect(claimed.timeoutMs == 1000)
        h.now += 600
        guard case .job(let progressed)? = h.send(.progress(ProgressRequest(fence: JobVersion(job: claimed.id, version: claimed.version), leaseMs: 60_000)))
        else {
            Issue.record("progress was refused")
            return
        }
        #expect(h.coordinator.nextDeadline() == claimed.updatedAt + 1000, "the timer is set for the attempt's end, not polled")
        h.now = claimed.updatedAt + 1000
        h.run()
        let after = try #require(try h.store.job(claimed.id))
        #expect(after.state == .pending && after.version == progressed.version + 1)
        #expect(after.lastError?.value["code"] == "timeout")
        #expect(try h.store.events(ofJob: claimed.id).last?.kind == .timedOut)
        guard case .failure(let stale)? = h.complete(progressed) else {
            Issue.record("the timed-out worker's complete was accepted")
            return
        }
        #expect(stale.code == .staleVersion)
    }

    /// A complete that arrives before the timeout wins, and the timeout then finds nothing; one
    /// that arrives in the batch after it passed is stale.
    @Test(arguments: Backend.available) func timeout_racingAComplete(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let first = try claimWithTimeout(h)
        h.now = first.updatedAt + 999
        guard case .job(let completed)? = h.complete(first) else { return }
        #expect(completed.state == .completed)
        h.now += 1
        h.run()
        #expect(try h.store.job(first.id)?.state == .completed)

        let second = try claimWithTimeout(h, maxAttempts: 1)
        h.now = second.updatedAt + 1000
        guard case .failure(let late)? = h.complete(second) else {
            Issue.record("a complete after the timeout was accepted")
            return
        }
        #expect(late.code == .staleVersion)
        #expect(try h.store.job(second.id)?.state == .failed, "no attempts left: the timeout fails it for good")
    }

    /// Snooze puts a running job back to pending after the delay without counting the
    /// attempt; only a running job can be snoozed.
    @Test(arguments: Backend.available) func snooze_doesNotCountTheAttempt(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        let claimed = try #require(h.claim()?.claimedJob ?? nil)
        #expect(claimed.attempt == 1)
        guard case .job(let snoozed)? = h.send(.snooze(SnoozeRequest(fence: JobVersion(job: claimed.id, version: claimed.version), delayMs: 5000)))
        else {
            Issue.record("snooze was refused")
            return
        }
        #expect(snoozed.state == .pending && snoozed.attempt == 0 && snoozed.runAt == h.now + 5000)
        #expect(snoozed.version == claimed.version + 1 && snoozed.leaseExpiresAt == nil && snoozed.worker == claimed.worker, "the worker stays, as after any attempt")
        #expect(try h.store.events(ofJob: claimed.id).last?.kind == .snoozed)
        #expect(h.claim()?.claimedJob == .some(nil), "not before its time")
        guard case .failure(let notRunning)? = h.send(.snooze(SnoozeRequest(fence: JobVersion(job: snoozed.id, version: snoozed.version), delayMs: 1)))
        else { return }
        #expect(notRunning.code == .invalidState)
        h.now += 5000
        #expect(h.claim()?.claimedJob??.attempt == 1)
    }

    /// Trace context is stored and comes back with the job.
    @Test(arguments: Backend.available) func traceContext_isKept(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        _ = h.send(.enqueue(EnqueueRequest(queue: "q", traceparent: traceparent, tracestate: "rojo=00f067aa0ba902b7")))
        _ = h.send(.enqueueMany([EnqueueRequest(queue: "q", traceparent: traceparent), EnqueueRequest(queue: "q")]))
        let jobs = try h.store.list(ListRequest(queue: "q", state: nil, limit: 10, after: nil)).jobs
        #expect(jobs.map(\.traceparent) == [traceparent, traceparent, nil])
        #expect(jobs.map(\.tracestate) == ["rojo=00f067aa0ba902b7", nil, nil])
    }
}
