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
    let store: any JobStore
    /// In [-1, 1]: where within ±10% each backoff lands.
    let jitter: () -> Double
    /// Parked claims in arrival order, so waiters are served first come, first served.
    var waiters: [Waiter] = []
    /// Queues whose settings (a pause, a limit) held back the last claim that found nothing
    /// there: a job of theirs ending, or their settings changing, may let a waiter through.
    var heldQueues: Set<String> = []
    /// When the first rate window that held a claim back moves on; the held queues are
    /// looked at again then.
    var heldUntil: Int64?

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

    let retention: Retention
    /// The earliest moment stored work comes due (a delayed job, a lease, a schedule slot, a
    /// retention expiry), kept without asking the store after every batch: commands can only
    /// bring it forward, so they lower it as they go, and once it passes the due work runs and
    /// it is read afresh. `nil` once known means nothing is due, ever.
    var storedDeadline: Int64?
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
            if let heldUntil, now >= heldUntil {
                eligible.formUnion(heldQueues)
                self.heldUntil = nil
            }
            if !eligible.isEmpty { try serveWaiters(in: eligible, now: now, into: &completions) }
            for command in try applyTogether(batch, now: now, into: &completions) {
                let (reply, madeEligible) = try apply(command, now: now)
                answer(command, reply, now: now, into: &completions)
                let eligible = madeEligible.union(takeReleased())
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
        let held = waiters.isEmpty ? nil : heldUntil
        return [stored, wait, recheck, held].compactMap { $0 }.min()
    }

    private func readStoredDeadline() throws(StoreError) -> Int64? {
        var candidates = [try store.nextDeadline()]
        for (state, period) in retention.periods {
            candidates.append(try store.oldestFinished(state).map { Retention.pruneDue(changedAt: $0, period: period) })
        }
        return candidates.compactMap { $0 }.min()
    }

    /// Brings the stored deadline forward for whatever the reply's jobs and schedules start:
    /// a delay, a lease, a retention period, a schedule slot.
    func noteDeadlines(of reply: Reply, now: Int64) {
        func note(_ time: Int64?) {
            guard let time else { return }
            storedDeadline = min(storedDeadline ?? time, time)
        }
        func note(_ job: Job) {
            if job.state == .pending, job.runAt > now { note(job.runAt) }
            note(job.leaseExpiresAt)
            // A claim's updated_at is its start; a later change's is later, which notes nothing.
            if job.state == .running, let timeout = job.timeoutMs { note(job.updatedAt + timeout) }
            if let period = retention.periods.first(where: { $0.state == job.state })?.milliseconds {
                note(Retention.pruneDue(changedAt: job.updatedAt, period: period))
            }
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
            let outcome = try store.claim(request, worker: request.worker ?? origin.peer, context)
            return (claimReply(outcome, request, now: context.now), [])
        case .progress(let request):
            return (.job(try store.progress(request, context)), [])
        case .complete(let request):
            let job = try store.complete(request, context)
            return (.job(job), freedQueues([job]))
        case .fail(let request):
            let job = try store.fail(request, jitter: jitter(), context)
            return (.job(job), eligibleQueues([job], context.now).union(freedQueues([job])))
        case .cancel(let fence):
            let job = try store.cancel(fence, context)
            return (.job(job), freedQueues([job]))
        case .retry(let fence):
            let job = try store.retry(fence, context)
            return (.job(job), [job.queue])
        case .log(let request):
            return (.job(try store.appendLog(request, context)), [])
        case .snooze(let request):
            let job = try store.snooze(request, context)
            return (.job(job), eligibleQueues([job], context.now).union(freedQueues([job])))
        case .schedulePut(let request):
            return (.schedule(try store.putSchedule(request, context)), [])
        case .scheduleDelete(let request):
            try store.deleteSchedule(request)
            return (.done, [])
        case .purge(let request):
            return (.purged(try store.purge(request)), [])
        case .queuePut(let request):
            _ = try store.putQueue(request, context)
            return (.queue(try store.queuesAsSeen(named: request.queue)[0]), [request.queue])
        case .hello, .ping, .get, .list, .stats, .watch, .scheduleGet, .scheduleList, .queueGet, .queueList, .backup, .metrics:
            return (.failure(ProtocolError(.internal, "\(operation.name) is not a write")), [])
        }
    }
}
