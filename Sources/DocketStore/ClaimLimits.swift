import DocketProtocol

/// What a claim came to: a job, or none, with the queues whose settings held one back.
public struct ClaimOutcome: Sendable, Equatable {
    public var job: Job?
    /// Queues left out because they are paused or at a limit (not because they are empty):
    /// a finished job or a change of settings there may let a waiting claim through.
    public var heldBack: Set<String>
    /// How soon the first rate window that held a queue back lets a claim through, in ms.
    public var retryAfterMs: Int64?

    public init(job: Job?, heldBack: Set<String> = [], retryAfterMs: Int64? = nil) {
        self.job = job
        self.heldBack = heldBack
        self.retryAfterMs = retryAfterMs
    }
}

/// The best pending job of one queue, in claim order.
struct ClaimCandidate {
    var id: Int64
    var priority: Int64
    var runAt: Int64

    func isBefore(_ other: ClaimCandidate) -> Bool {
        (priority, runAt, id) < (other.priority, other.runAt, other.id)
    }
}

/// The steps of a claim that obeys queue settings, each one statement a backend spells in
/// its own SQL; `claim(_:settings:worker:_:)` puts them together the same way for every
/// backend. The caller makes sure nothing else claims from these queues meanwhile: the single
/// writer on SQLite, the lock on each limited queue's settings row on PostgreSQL.
protocol LimitedClaimSteps {
    func runningCount(queue: String) throws(StoreError) -> Int64
    /// The time of the `offset`-th newest claim of the queue after `since` (0: the newest).
    func recentClaim(queue: String, since: Int64, offset: Int64) throws(StoreError) -> Int64?
    /// The queue's best pending job whose `concurrency_key` (if any) has fewer than
    /// `perKeyLimit` running jobs.
    func bestCandidate(queue: String, perKeyLimit: Int64?) throws(StoreError) -> ClaimCandidate?
    func hasPendingJobs(queue: String) throws(StoreError) -> Bool
    /// Moves the candidate to `running`, with its `claimed` event.
    func take(_ candidate: ClaimCandidate, _ request: ClaimRequest, worker: String?, _ context: ChangeContext) throws(StoreError) -> Job
    /// Remembers a claim for the queue's rate window and forgets those at or before `forgetUpTo`.
    func recordClaim(queue: String, at: Int64, forgetUpTo: Int64) throws(StoreError)
}

extension LimitedClaimSteps {
    /// The best job of the request's queues that their settings let through. `settings`
    /// holds the queues that have any (paused or limited); the others are limited by nothing.
    func claim(
        _ request: ClaimRequest, settings: [String: QueueSettings], worker: String?, _ context: ChangeContext
    ) throws(StoreError) -> ClaimOutcome {
        var best: ClaimCandidate?
        var heldBack: Set<String> = []
        var retryAfterMs: Int64?
        for queue in request.queues {
            let limits = settings[queue]
            if let limits {
                if let wait = try holdBack(limits, now: context.now) {
                    heldBack.insert(queue)
                    if let wait { retryAfterMs = min(retryAfterMs ?? wait, wait) }
                    continue
                }
            }
            guard let candidate = try bestCandidate(queue: queue, perKeyLimit: limits?.maxRunningPerKey) else {
                if limits?.maxRunningPerKey != nil, try hasPendingJobs(queue: queue) { heldBack.insert(queue) }
                continue
            }
            if let current = best, current.isBefore(candidate) { continue }
            best = candidate
        }
        guard let best else { return ClaimOutcome(job: nil, heldBack: heldBack, retryAfterMs: retryAfterMs) }
        let job = try take(best, request, worker: worker, context)
        if let rate = settings[job.queue]?.rate {
            try recordClaim(queue: job.queue, at: context.now, forgetUpTo: context.now - rate.perMs)
        }
        return ClaimOutcome(job: job)
    }

    /// Whether the queue's settings let no job through now: nil when they let one through,
    /// `.some(nil)` when paused or full, `.some(ms)` when the rate window frees up in `ms`.
    private func holdBack(_ limits: QueueSettings, now: Int64) throws(StoreError) -> Int64?? {
        if limits.paused { return .some(nil) }
        if let maximum = limits.maxRunning, try runningCount(queue: limits.name) >= maximum { return .some(nil) }
        // A claim now fits when fewer than `max` claims fall in the window (now - per_ms, now];
        // the max-th newest, if it is in the window, says when it leaves it.
        if let rate = limits.rate,
            let blocking = try recentClaim(queue: limits.name, since: now - rate.perMs, offset: rate.max - 1)
        {
            return .some(max(1, blocking + rate.perMs - now))
        }
        return nil
    }
}

extension QueuePutRequest {
    /// The settings this request makes of the stored ones (none stored: the defaults, at
    /// version 0), or `queue_stale` when it was written against another version.
    func applied(to stored: QueueSettings?) throws(StoreError) -> QueueSettings {
        let current = stored ?? QueueSettings(name: queue)
        guard current.version == version else { throw .queueStale(current.reference, expected: version) }
        return current.applying(self)
    }
}
