import DocketProtocol
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

extension CoordinatorHarness {
    @discardableResult
    func putQueue(_ request: QueuePutRequest) -> Reply? { send(.queuePut(request)) }

    func claim(_ queue: String = "q") -> Reply? { send(.claim(ClaimRequest(queues: [queue]))) }

    func enqueue(_ queue: String = "q", key: String?) -> Job? {
        guard case .enqueued(let job, _)? = send(.enqueue(EnqueueRequest(queue: queue, concurrencyKey: key))) else { return nil }
        return job
    }

    func complete(_ job: Job) -> Reply? { send(.complete(CompleteRequest(fence: JobVersion(job: job.id, version: job.version)))) }
}

extension Reply {
    var queueInfo: QueueInfo? {
        guard case .queue(let info) = self else { return nil }
        return info
    }
}

@Suite("Queues: pause, limits and rate, through the coordinator")
struct QueueLimitTests {
    /// Settings are versioned: a stale put is refused with the present version and changes
    /// nothing; members left out keep their value and null clears one.
    @Test(arguments: Backend.available) func settings_areVersioned(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let created = try #require(h.putQueue(QueuePutRequest(queue: "q", version: 0, maxRunning: 3))?.queueInfo)
        #expect(created.settings == QueueSettings(name: "q", maxRunning: 3, version: 1))
        guard case .failure(let stale)? = h.putQueue(QueuePutRequest(queue: "q", version: 0, paused: true)) else {
            Issue.record("a second create was not refused")
            return
        }
        #expect(stale.code == .staleVersion && stale.queue == QueueReference(name: "q", version: 1))
        let paused = try #require(h.putQueue(QueuePutRequest(queue: "q", version: 1, paused: true))?.queueInfo)
        #expect(paused.settings == QueueSettings(name: "q", paused: true, maxRunning: 3, version: 2))
        let cleared = try #require(h.putQueue(QueuePutRequest(queue: "q", version: 2, maxRunning: .some(nil)))?.queueInfo)
        #expect(cleared.settings == QueueSettings(name: "q", paused: true, version: 3))
    }

    /// A paused queue hands out nothing; a running job still finishes; resuming serves the
    /// claim that waited.
    @Test(arguments: Backend.available) func pause_holdsClaimsAndResumeWakesWaiters(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        _ = h.enqueue()
        let running = try #require(h.claim()?.claimedJob ?? nil)
        h.putQueue(QueuePutRequest(queue: "q", version: 0, paused: true))
        #expect(h.claim()?.claimedJob == .some(nil))
        #expect(h.complete(running) != nil)
        let waiter = h.park()
        #expect(waiter.all.isEmpty)
        h.putQueue(QueuePutRequest(queue: "q", version: 1, paused: false))
        #expect(waiter.last?.claimedJob??.state == .running)
    }

    /// Never more than max_running running; a job finishing hands its place to the waiter in
    /// the same batch.
    @Test(arguments: Backend.available) func maxRunning_capsAndFinishingWakes(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.putQueue(QueuePutRequest(queue: "q", version: 0, maxRunning: 2))
        for _ in 0..<4 { _ = h.enqueue() }
        let first = try #require(h.claim()?.claimedJob ?? nil)
        _ = try #require(h.claim()?.claimedJob ?? nil)
        #expect(h.claim()?.claimedJob == .some(nil))
        let waiter = h.park()
        #expect(waiter.all.isEmpty)
        #expect(h.complete(first) != nil)
        #expect(waiter.last?.claimedJob??.state == .running)
        #expect(h.claim()?.claimedJob == .some(nil))
    }

    /// A key at its limit is passed over, never blocking other keys or jobs without one;
    /// when its job ends, the next job of the key goes to the waiter.
    @Test(arguments: Backend.available) func perKeyLimit_skipsFullKeys(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.putQueue(QueuePutRequest(queue: "q", version: 0, maxRunningPerKey: 1))
        let a1 = try #require(h.enqueue(key: "a"))
        let a2 = try #require(h.enqueue(key: "a"))
        let b1 = try #require(h.enqueue(key: "b"))
        let free = try #require(h.enqueue(key: nil))
        #expect(h.claim()?.claimedJob??.id == a1.id)
        #expect(h.claim()?.claimedJob??.id == b1.id)
        #expect(h.claim()?.claimedJob??.id == free.id)
        let waiter = h.park()
        #expect(waiter.all.isEmpty)
        let running = try #require(try h.store.job(a1.id))
        #expect(h.complete(running) != nil)
        #expect(waiter.last?.claimedJob??.id == a2.id)
        #expect(waiter.last?.claimedJob??.concurrencyKey == "a")
    }

    /// At most rate.max claims in any per_ms window, edges included: the window is
    /// (now - per_ms, now]. A held claim says when to come back; a waiting one is served
    /// when the window moves, without a request to wake it.
    @Test(arguments: Backend.available) func rate_windowEdgesAndWaking(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.putQueue(QueuePutRequest(queue: "q", version: 0, rate: RateLimit(max: 2, perMs: 1000)))
        for _ in 0..<5 { _ = h.enqueue() }
        let start = h.now
        #expect(h.claim()?.claimedJob??.state == .running)
        h.now += 10
        #expect(h.claim()?.claimedJob??.state == .running)
        h.now += 10
        #expect(h.claim() == .claimHeld(retryAfterMs: 980))
        h.now = start + 999
        #expect(h.claim() == .claimHeld(retryAfterMs: 1))
        h.now = start + 1000
        #expect(h.claim()?.claimedJob??.state == .running, "the first claim has left the window")
        #expect(h.claim() == .claimHeld(retryAfterMs: 10))
        let waiter = h.park()
        #expect(waiter.all.isEmpty)
        #expect(h.coordinator.nextDeadline() == start + 1010)
        h.now = start + 1010
        h.run()
        #expect(waiter.last?.claimedJob??.state == .running)
    }

    /// Limits of one queue do not touch another named in the same claim.
    @Test(arguments: Backend.available) func limitedQueue_doesNotHoldOthers(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        h.putQueue(QueuePutRequest(queue: "slow", version: 0, paused: true))
        _ = h.enqueue("slow")
        let other = try #require(h.enqueue("fast"))
        let reply = h.send(.claim(ClaimRequest(queues: ["slow", "fast"])))
        #expect(reply?.claimedJob??.id == other.id)
    }

    /// queue_list shows every queue with jobs or settings, with counts.
    @Test(arguments: Backend.available) func queueList_showsSettingsAndCounts(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue("jobs-only")
        h.putQueue(QueuePutRequest(queue: "settings-only", version: 0, maxRunning: 1))
        let queues = try h.store.queues(named: nil)
        #expect(queues.map(\.settings.name) == ["jobs-only", "settings-only"])
        #expect(queues[0].counts == [.pending: 1] && queues[0].settings.version == 0)
        #expect(queues[1].counts.isEmpty && queues[1].settings.maxRunning == 1)
    }
}
