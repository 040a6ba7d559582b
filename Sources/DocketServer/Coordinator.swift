import DocketProtocol
import DocketStore

/// A change to apply through the single writer, with where its answer goes.
public struct WriteCommand: Sendable {
    public enum Action: Sendable {
        case operation(Op)
        /// Undo a claim whose answer could not be delivered (the client had gone).
        case release(JobVersion)
    }

    public var action: Action
    public var origin: ConnectionOrigin
    /// Called once with the answer, after the transaction holding the change has committed.
    public var respond: @Sendable (Reply) -> Void

    public init(action: Action, origin: ConnectionOrigin, respond: @escaping @Sendable (Reply) -> Void) {
        self.action = action
        self.origin = origin
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
    public struct Completion {
        public var respond: @Sendable (Reply) -> Void
        public var reply: Reply
    }

    private let retention: Retention

    public init(
        store: any JobStore, retention: Retention = Retention(), jitter: @escaping () -> Double = { Double.random(in: -1...1) }
    ) {
        self.store = store
        self.retention = retention
        self.jitter = jitter
    }

    public var waitingClaims: Int { waiters.count }

    /// What one batch produced: answers to send and events to publish, both only now that
    /// the transaction has committed.
    public struct Outcome {
        public var completions: [Completion]
        public var events: [JobEvent]
    }

    /// Applies `batch` and all work due at `now` in one transaction. If the commit fails
    /// nothing of the batch stands, and every answer says so.
    public func process(_ batch: [WriteCommand], now: Int64) -> Outcome {
        var completions: [Completion] = []
        do {
            try store.begin()
        } catch {
            return Outcome(completions: batch.map { Completion(respond: $0.respond, reply: .failure(error.protocolError)) }, events: [])
        }
        let events: [JobEvent]
        let waitersBefore = waiters
        do {
            try serveWaiters(in: try dueWork(now: now), now: now, into: &completions)
            for command in batch {
                let (reply, eligible) = apply(command, now: now)
                if case .claimed(nil) = reply, case .operation(.claim(let claim)) = command.action, claim.waitMs > 0 {
                    waiters.append(Waiter(command: command, request: claim, deadline: now + claim.waitMs))
                } else {
                    completions.append(Completion(respond: command.respond, reply: reply))
                }
                if !eligible.isEmpty { try serveWaiters(in: eligible, now: now, into: &completions) }
            }
            events = try store.commit()
        } catch {
            // Nothing of the batch stands: claims served to earlier waiters are undone, so
            // they wait on; every request of the batch learns that it was not applied.
            store.rollback()
            waiters = waitersBefore
            let failure = Reply.failure(error.protocolError)
            return Outcome(completions: batch.map { Completion(respond: $0.respond, reply: failure) }, events: [])
        }
        completions += timeOutWaiters(now: now)
        return Outcome(completions: completions, events: events)
    }

    /// Answers every parked claim with `job: null`; used when the daemon shuts down.
    public func releaseAllWaiters() -> [Completion] {
        defer { waiters.removeAll() }
        return waiters.map { Completion(respond: $0.command.respond, reply: .claimed(nil)) }
    }

    /// The next moment something is due without any request: a delayed job, a lease, a wait.
    public func nextDeadline() -> Int64? {
        let stored = try? store.nextDeadline()
        let wait = waiters.lazy.map(\.deadline).min()
        return ([stored ?? nil, wait] + pruneDeadlines()).compactMap { $0 }.min()
    }

    /// When the oldest finished job of each retained state outlives its retention.
    private func pruneDeadlines() -> [Int64?] {
        retention.periods.map { state, period in
            (try? store.oldestFinished(state)).flatMap { $0.map { $0 + period } }
        }
    }

    // MARK: Applying one command

    /// The command's answer, and the queues it made jobs eligible in.
    private func apply(_ command: WriteCommand, now: Int64) -> (Reply, eligible: Set<String>) {
        let context = ChangeContext(now: now, peer: command.origin.peer)
        do {
            return try store.savepoint { () throws(StoreError) -> (Reply, Set<String>) in
                switch command.action {
                case .release(let fence):
                    let job = try store.release(fence, context)
                    return (.job(job), [job.queue])
                case .operation(let operation):
                    return try apply(operation, origin: command.origin, context)
                }
            }
        } catch {
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
            var results: [(job: Job, created: Bool)] = []
            results.reserveCapacity(requests.count)
            for request in requests { results.append(try store.enqueue(request, context)) }
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
        case .hello, .ping, .get, .list, .stats, .watch, .scheduleGet, .scheduleList:
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
            let claimed = try store.savepoint { () throws(StoreError) -> Job? in
                try store.claim(waiter.request, worker: waiter.request.worker ?? waiter.command.origin.peer, context)
            }
            if let claimed {
                waiters.remove(at: index)
                completions.append(Completion(respond: waiter.command.respond, reply: .claimed(claimed)))
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
            expired.append(Completion(respond: waiter.command.respond, reply: .claimed(nil)))
            return true
        }
        return expired
    }
}
