import DocketProtocol
import DocketStore

/// Requests of one kind from different clients, applied as groups: a batch's plain enqueues
/// in one, its claims of each set of queues in one, its completions in one. On PostgreSQL
/// each group is one statement where it would be one per request, and all of them go out
/// before any answer is waited for; the round trips were most of a batch's time.
///
/// Requests in one batch were all in flight at once, from different connections, so any
/// order among them is one the clients could have seen; the order kept is the one that
/// serves parked claims first: enqueues, then the claims parked before on the queues they
/// stock, then the batch's claims, then completions. The commands of a connection with more
/// than one in the batch keep their order (their answers go out in it, and a later one may
/// build on an earlier one), so they are left to be applied one by one with every other kind.
extension Coordinator {
    /// A member of a claim group: a claim parked before (by its place in `waiters`), or one
    /// of the batch.
    private enum Claimant {
        case parked(Int)
        case batch(WriteCommand, ClaimRequest)
    }

    /// The batch's commands sorted into groups, with the store's view of them.
    private struct Groups {
        var enqueues: [WriteCommand] = []
        var claims: [(queues: [String], members: [Claimant])] = []
        var completes: [WriteCommand] = []
        var store = TogetherBatch()

        mutating func join(_ claimant: Claimant, _ request: ClaimRequest) {
            if let group = claims.firstIndex(where: { $0.queues == request.queues }) {
                claims[group].members.append(claimant)
            } else {
                claims.append((request.queues, [claimant]))
            }
        }
    }

    /// Applies the groups; returns the commands left to apply one by one, in batch order.
    func applyTogether(_ batch: [WriteCommand], now: Int64, into completions: inout [Completion]) throws(StoreError)
        -> [WriteCommand]
    {
        guard batch.count > 1 else { return batch }
        let (groups, rest) = group(batch, now: now)
        guard !groups.store.isEmpty else { return rest }
        let results = try store.apply(together: groups.store)
        for (command, job) in zip(groups.enqueues, results.enqueued) {
            answer(command, .enqueued(job, created: true), now: now, into: &completions)
        }
        deliverClaims(groups, results.claimed, now: now, into: &completions)
        var freed: Set<String> = []
        for (command, result) in zip(groups.completes, results.completed) {
            switch result {
            case .success(let job):
                answer(command, .job(job), now: now, into: &completions)
                freed.formUnion(freedQueues([job]))
            case .failure(let refusal):
                answer(command, .failure(refusal.protocolError), now: now, into: &completions)
            }
        }
        freed.formUnion(takeReleased())
        if !freed.isEmpty { try serveWaiters(in: freed, now: now, into: &completions) }
        return rest
    }

    /// Sorts the batch: plain enqueues, completions, and claims by their queues behind the
    /// parked claims on the queues the enqueues stock; the rest is left in order.
    private func group(_ batch: [WriteCommand], now: Int64) -> (Groups, rest: [WriteCommand]) {
        var perOrigin: [ObjectIdentifier: Int] = [:]
        for command in batch { perOrigin[ObjectIdentifier(command.origin), default: 0] += 1 }
        var groups = Groups()
        var claims: [(WriteCommand, ClaimRequest)] = []
        var rest: [WriteCommand] = []
        for command in batch {
            guard perOrigin[ObjectIdentifier(command.origin)] == 1, case .operation(let operation) = command.action else {
                rest.append(command)
                continue
            }
            switch operation {
            case .enqueue(let request) where request.uniqueKey == nil && request.after.isEmpty:
                groups.enqueues.append(command)
                groups.store.enqueues.append((request, context(for: command, now)))
            case .complete(let request):
                groups.completes.append(command)
                groups.store.completes.append((request, context(for: command, now)))
            case .claim(let request):
                claims.append((command, request))
            default:
                rest.append(command)
            }
        }
        waiters.removeAll { !$0.command.origin.isActive }
        let stocked = Set(groups.store.enqueues.lazy.filter { $0.request.runAt.resolve(now: now) <= now }.map(\.request.queue))
        for (index, waiter) in waiters.enumerated() where waiter.request.queues.contains(where: stocked.contains) {
            groups.join(.parked(index), waiter.request)
        }
        for (command, request) in claims { groups.join(.batch(command, request), request) }
        groups.store.claims = groups.claims.map { group in
            group.members.map { member in
                switch member {
                case .parked(let index): claimItem(waiters[index].command, waiters[index].request, now)
                case .batch(let command, let request): claimItem(command, request, now)
                }
            }
        }
        return (groups, rest)
    }

    /// Answers the parked claims that got a job (the others wait on) and the batch's claims.
    private func deliverClaims(_ groups: Groups, _ outcomes: [[ClaimOutcome]], now: Int64, into completions: inout [Completion]) {
        var served: Set<Int> = []
        var answered: [(WriteCommand, Reply)] = []
        for (group, outcomes) in zip(groups.claims, outcomes) {
            for (member, outcome) in zip(group.members, outcomes) {
                switch member {
                case .parked(let index):
                    if settleParked(index, outcome, now: now, into: &completions) { served.insert(index) }
                case .batch(let command, let request):
                    answered.append((command, claimReply(outcome, request, now: now)))
                }
            }
        }
        // Parked claims are picked out by their place, so the batch's own join them only now.
        removeWaiters(at: served)
        for (command, reply) in answered { answer(command, reply, now: now, into: &completions) }
    }

    /// Answers a command once the batch commits, or parks it: a claim that found nothing and
    /// may wait.
    func answer(_ command: WriteCommand, _ reply: Reply, now: Int64, into completions: inout [Completion]) {
        noteDeadlines(of: reply, now: now)
        if case .claimed(nil) = reply, case .operation(.claim(let claim)) = command.action, claim.waitMs > 0 {
            waiters.append(Waiter(command: command, request: claim, deadline: now + claim.waitMs))
        } else {
            completions.append(Completion(for: command, reply: reply))
        }
    }

    /// What a claim's outcome tells its client: a rate limit's wait when it may not wait here.
    func claimReply(_ outcome: ClaimOutcome, _ request: ClaimRequest, now: Int64) -> Reply {
        noteHolds(of: outcome, request, now: now)
        if outcome.job == nil, let retryAfterMs = outcome.retryAfterMs, request.waitMs == 0 {
            return .claimHeld(retryAfterMs: retryAfterMs)
        }
        return .claimed(outcome.job)
    }

    func claimItem(_ command: WriteCommand, _ request: ClaimRequest, _ now: Int64) -> ClaimItem {
        ClaimItem(request: request, worker: request.worker ?? command.origin.peer, context: context(for: command, now))
    }

    func context(for command: WriteCommand, _ now: Int64) -> ChangeContext {
        ChangeContext(now: now, peer: command.origin.peer)
    }
}
