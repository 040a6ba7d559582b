import DocketProtocol
import DocketStore
import NIOCore

/// A change to apply through the single writer, with where its answer goes.
public struct WriteCommand: Sendable {
    public enum Action: Sendable {
        case operation(Op)
        /// Undo a claim whose answer could not be delivered (the client had gone).
        case release(JobVersion)
    }

    public var action: Action
    public var origin: ConnectionOrigin
    /// Called once with the answer, after the transaction holding the change has committed;
    /// on `eventLoop` when one is given, so the writer hands each loop its answers in one go.
    public var respond: @Sendable (Reply) -> Void
    public var eventLoop: (any EventLoop)?

    public init(
        action: Action, origin: ConnectionOrigin, eventLoop: (any EventLoop)? = nil,
        respond: @escaping @Sendable (Reply) -> Void
    ) {
        self.action = action
        self.origin = origin
        self.eventLoop = eventLoop
        self.respond = respond
    }
}

/// The job coordinator's core: applies batches of changes to the store in one transaction
/// each, parks claims that wait, and does the time-driven work (promoting delayed jobs,
/// expiring leases, timing out waits).
///
/// Single-threaded by design and free of I/O other than the store: the writer thread drives
/// it in production, and tests drive it directly with a manual clock.
public final class Coordinator {
    private let store: any JobStore
    /// In [-1, 1]: where within ±10% each backoff lands.
    private let jitter: () -> Double
    /// Parked claims in arrival order, so waiters are served first come, first served.
    private var waiters: [Waiter] = []

    struct Waiter {
        var command: WriteCommand
        var request: ClaimRequest
        var deadline: Int64
    }

    /// An answer ready to be sent once the batch has committed.
    public struct Completion: Sendable {
        public var respond: @Sendable (Reply) -> Void
        public var eventLoop: (any EventLoop)?
        public var reply: Reply

        init(for command: WriteCommand, reply: Reply) {
            respond = command.respond
            eventLoop = command.eventLoop
            self.reply = reply
        }
    }

    private let retention: Retention
    /// The earliest moment stored work comes due (a delayed job, a lease, a schedule slot, a
    /// retention expiry), kept without asking the store after every batch: commands can only
    /// bring it forward, so they lower it as they go, and once it passes the due work runs and
    /// it is read afresh. `nil` once known means nothing is due, ever.
    private var storedDeadline: Int64?
    private var storedDeadlineKnown = false
    /// When the stored deadline was read; with a store other daemons share, it is read again
    /// after `sharedStoreRecheckMs` however far off it was, since their changes do not pass here.
    private var storedDeadlineReadAt: Int64 = 0
    private let sharedStore: Bool

    /// `sharedStore`: other daemons write to the same store (PostgreSQL).
    public init(
        store: any JobStore, retention: Retention = Retention(), sharedStore: Bool = false,
        jitter: @escaping () -> Double = { Double.random(in: -1...1) }
    ) {
        self.store = store
        self.retention = retention
        self.sharedStore = sharedStore
        self.jitter = jitter
    }

    /// How stale the stored deadline may get on a shared store: the longest a lease left by a
    /// daemon that died, or a job delayed through another daemon, can wait past its time here.
    public static let sharedStoreRecheckMs: Int64 = 1000

    public var waitingClaims: Int { waiters.count }

    /// What one batch produced: answers to send and events to publish, both only now that
    /// the transaction has committed.
    public struct Outcome {
        public var completions: [Completion]
        public var events: [JobEvent]
        /// Set when the transaction failed and nothing of the batch was applied.
        public var failure: StoreError?
    }

    /// Applies `batch` and all work due at `now` in one transaction, and offers the jobs of
    /// `wake` (queues where other daemons made jobs eligible; nil: every queue) to parked
    /// claims. If the commit fails nothing of the batch stands, and every answer says so. A
    /// transaction that lost a race with another daemon's is run again: it was rolled back
    /// whole, so nothing of it is applied twice.
    public func process(_ batch: [WriteCommand], now: Int64, wake: Set<String>? = []) -> Outcome {
        var outcome = attempt(batch, now: now, wake: wake)
        for _ in 1..<Self.conflictAttempts {
            guard case .conflict? = outcome.failure else { break }
            outcome = attempt(batch, now: now, wake: wake)
        }
        // Waits end on time whatever became of the batch (a failed one's are still parked).
        if outcome.failure != nil { outcome.completions += timeOutWaiters(now: now) }
        return outcome
    }

    /// How many times a batch is tried when it keeps losing races (deadlocks) to other daemons.
    static let conflictAttempts = 5

    private func attempt(_ batch: [WriteCommand], now: Int64, wake: Set<String>?) -> Outcome {
        var completions: [Completion] = []
        do {
            try store.begin()
        } catch {
            return failed(batch, error, now: now)
        }
        let events: [JobEvent]
        let waitersBefore = waiters
        let due =
            !storedDeadlineKnown || storedDeadline.map { now >= $0 } ?? false
            || (sharedStore && now - storedDeadlineReadAt >= Self.sharedStoreRecheckMs)
        do {
            var eligible = due ? try dueWork(now: now) : []
            if let wake { eligible.formUnion(wake) } else { eligible.formUnion(waiters.flatMap(\.request.queues)) }
            if !eligible.isEmpty { try serveWaiters(in: eligible, now: now, into: &completions) }
            for command in batch {
                let (reply, eligible) = try apply(command, now: now)
                noteDeadlines(of: reply, now: now)
                if case .claimed(nil) = reply, case .operation(.claim(let claim)) = command.action, claim.waitMs > 0 {
                    waiters.append(Waiter(command: command, request: claim, deadline: now + claim.waitMs))
                } else {
                    completions.append(Completion(for: command, reply: reply))
                }
                if !eligible.isEmpty { try serveWaiters(in: eligible, now: now, into: &completions) }
            }
            if due {
                storedDeadline = try readStoredDeadline()
                storedDeadlineKnown = true
                storedDeadlineReadAt = now
            }
            events = try store.commit()
        } catch {
            // Nothing of the batch stands: claims served to earlier waiters are undone, so
            // they wait on; every request of the batch learns that it was not applied.
            store.rollback()
            waiters = waitersBefore
            return failed(batch, error, now: now)
        }
        completions += timeOutWaiters(now: now)
        return Outcome(completions: completions, events: events)
    }

    /// Every request of the batch learns it was not applied, and the due work is tried again
    /// shortly, not in a tight loop while the store is away.
    private func failed(_ batch: [WriteCommand], _ error: StoreError, now: Int64) -> Outcome {
        storedDeadlineKnown = true
        storedDeadline = now + Self.retryAfterFailureMs
        storedDeadlineReadAt = now
        let failure = Reply.failure(error.protocolError)
        return Outcome(
            completions: batch.map { Completion(for: $0, reply: failure) }, events: [], failure: error)
    }

    /// How soon the due work is tried again after a failed transaction.
    static let retryAfterFailureMs: Int64 = 100

    /// Answers every parked claim with `job: null`; used when the daemon shuts down.
    public func releaseAllWaiters() -> [Completion] {
        defer { waiters.removeAll() }
        return waiters.map { Completion(for: $0.command, reply: .claimed(nil)) }
    }

    /// The next moment something is due without any request: a delayed job, a lease, a wait.
    public func nextDeadline() -> Int64? {
        let wait = waiters.lazy.map(\.deadline).min()
        // Not known yet (start-up, or after a failed batch): due at once (the epoch is long
        // past), which reads it afresh.
        let stored = storedDeadlineKnown ? storedDeadline : 0
        let recheck = sharedStore ? storedDeadlineReadAt + Self.sharedStoreRecheckMs : nil
        return [stored, wait, recheck].compactMap { $0 }.min()
    }

    private func readStoredDeadline() throws(StoreError) -> Int64? {
        var candidates = [try store.nextDeadline()]
        for (state, period) in retention.periods {
            candidates.append(try store.oldestFinished(state).map { $0 + period })
        }
        return candidates.compactMap { $0 }.min()
    }

    /// Brings the stored deadline forward for whatever the reply's jobs and schedules start:
    /// a delay, a lease, a retention period, a schedule slot.
    private func noteDeadlines(of reply: Reply, now: Int64) {
        func note(_ time: Int64?) {
            guard let time else { return }
            storedDeadline = min(storedDeadline ?? time, time)
        }
        func note(_ job: Job) {
            if job.state == .pending, job.runAt > now { note(job.runAt) }
            note(job.leaseExpiresAt)
            if let period = retention.periods.first(where: { $0.state == job.state })?.milliseconds { note(job.updatedAt + period) }
        }
        switch reply {
        case .job(let job), .enqueued(let job, _), .claimed(let job?): note(job)
        case .enqueuedMany(let results): results.forEach { note($0.job) }
        case .schedule(let schedule) where !schedule.paused: note(schedule.nextRunAt)
        default: break
        }
    }

    // MARK: Applying one command

    /// The command's answer, and the queues it made jobs eligible in. A refusal is the
    /// answer; any other failure is thrown, and the batch rolls back.
    private func apply(_ command: WriteCommand, now: Int64) throws(StoreError) -> (Reply, eligible: Set<String>) {
        let context = ChangeContext(now: now, peer: command.origin.peer)
        do {
            switch command.action {
            case .release(let fence):
                let job = try store.release(fence, context)
                return (.job(job), [job.queue])
            case .operation(let operation):
                return try apply(operation, origin: command.origin, context)
            }
        } catch where error.isRefusal {
            return (.failure(error.protocolError), [])
        }
    }

    private func apply(_ operation: Op, origin: ConnectionOrigin, _ context: ChangeContext) throws(StoreError)
        -> (Reply, Set<String>)
    {
        switch operation {
        case .enqueue(let request):
            let (job, created) = try store.enqueue(request, context)
            return (.enqueued(job, created: created), created ? eligibleQueues([job], context.now) : [])
        case .enqueueMany(let requests):
            let results = try store.enqueue(all: requests, context)
            return (.enqueuedMany(results), eligibleQueues(results.filter(\.created).map(\.job), context.now))
        case .claim(let request):
            return (.claimed(try store.claim(request, worker: request.worker ?? origin.peer, context)), [])
        case .progress(let request):
            return (.job(try store.progress(request, context)), [])
        case .complete(let request):
            return (.job(try store.complete(request, context)), [])
        case .fail(let request):
            let job = try store.fail(request, jitter: jitter(), context)
            return (.job(job), eligibleQueues([job], context.now))
        case .cancel(let fence):
            return (.job(try store.cancel(fence, context)), [])
        case .retry(let fence):
            let job = try store.retry(fence, context)
            return (.job(job), [job.queue])
        case .schedulePut(let request):
            return (.schedule(try store.putSchedule(request, context)), [])
        case .scheduleDelete(let request):
            try store.deleteSchedule(request)
            return (.done, [])
        case .purge(let request):
            return (.purged(try store.purge(request)), [])
        case .hello, .ping, .get, .list, .stats, .watch, .scheduleGet, .scheduleList, .backup, .metrics:
            return (.failure(ProtocolError(.internal, "\(operation.name) is not a write")), [])
        }
    }

    /// The queues of the jobs that a claim could take right now.
    private func eligibleQueues(_ jobs: [Job], _ now: Int64) -> Set<String> {
        Set(jobs.lazy.filter { $0.state == .pending && $0.runAt <= now }.map(\.queue))
    }

    // MARK: Time-driven work and waiters

    /// Promotes due delayed jobs, fires due schedules and expires passed leases; returns the
    /// queues that gained eligible jobs.
    private func dueWork(now: Int64) throws(StoreError) -> Set<String> {
        let context = ChangeContext(now: now)
        var queues = try store.promoteDueJobs(context)
        queues.formUnion(try store.fireDueSchedules(context))
        for job in try store.expireLeases(context) where job.state == .pending {
            queues.insert(job.queue)
        }
        try pruneExpired(now: now)
        return queues
    }

    /// Deletes finished jobs past their retention, a small batch at a time so a large backlog
    /// is worked off between request batches instead of stalling them.
    private func pruneExpired(now: Int64) throws(StoreError) {
        var pruned = 0
        for (state, period) in retention.periods {
            pruned += try store.pruneFinished(state, changedBefore: now - period, limit: Retention.batchSize)
        }
        if pruned > 0 { try store.reclaimSpace(pages: Retention.reclaimPages) }
    }

    /// Offers newly eligible jobs to parked claims in arrival order, until the queues run dry.
    private func serveWaiters(in queues: Set<String>, now: Int64, into completions: inout [Completion]) throws(StoreError) {
        var stocked = queues
        var index = 0
        while !stocked.isEmpty, index < waiters.count {
            let waiter = waiters[index]
            guard waiter.command.origin.isActive else {
                waiters.remove(at: index)
                continue
            }
            guard waiter.request.queues.contains(where: stocked.contains) else {
                index += 1
                continue
            }
            let context = ChangeContext(now: now, peer: waiter.command.origin.peer)
            let claimed = try store.claim(waiter.request, worker: waiter.request.worker ?? waiter.command.origin.peer, context)
            if let claimed {
                waiters.remove(at: index)
                noteDeadlines(of: .claimed(claimed), now: now)
                completions.append(Completion(for: waiter.command, reply: .claimed(claimed)))
            } else {
                stocked.subtract(waiter.request.queues)
                index += 1
            }
        }
    }

    private func timeOutWaiters(now: Int64) -> [Completion] {
        var expired: [Completion] = []
        waiters.removeAll { waiter in
            guard waiter.deadline <= now || !waiter.command.origin.isActive else { return false }
            expired.append(Completion(for: waiter.command, reply: .claimed(nil)))
            return true
        }
        return expired
    }
}
