import DocketProtocol
import DocketStore

/// Requests of one kind from different clients, applied as groups: a batch's plain enqueues
/// in one store call, its claims of each set of queues in one, its completions in one. On
/// PostgreSQL each group is one statement where it would be one per request, and the round
/// trips are most of a batch's time.
///
/// Requests in one batch were all in flight at once, from different connections, so any
/// order among them is one the clients could have seen; the order kept is the one that
/// serves parked claims first: enqueues, then the claims parked before, then the batch's
/// claims, then completions. The commands of a connection with more than one in the batch
/// keep their order (their answers go out in it, and a later one may build on an earlier
/// one), so they are left to be applied one by one with every other kind.
extension Coordinator {
    /// Applies the groups; returns the commands left to apply one by one, in batch order.
    func applyTogether(_ batch: [WriteCommand], now: Int64, into completions: inout [Completion]) throws(StoreError)
        -> [WriteCommand]
    {
        guard batch.count > 1 else { return batch }
        var perOrigin: [ObjectIdentifier: Int] = [:]
        for command in batch { perOrigin[ObjectIdentifier(command.origin), default: 0] += 1 }
        var enqueues: [(command: WriteCommand, request: EnqueueRequest)] = []
        var claims: [(queues: [String], items: [(command: WriteCommand, request: ClaimRequest)])] = []
        var completes: [(command: WriteCommand, request: CompleteRequest)] = []
        var rest: [WriteCommand] = []
        for command in batch {
            guard perOrigin[ObjectIdentifier(command.origin)] == 1, case .operation(let operation) = command.action else {
                rest.append(command)
                continue
            }
            switch operation {
            case .enqueue(let request) where request.uniqueKey == nil && request.after.isEmpty:
                enqueues.append((command, request))
            case .claim(let request):
                if let group = claims.firstIndex(where: { $0.queues == request.queues }) {
                    claims[group].items.append((command, request))
                } else {
                    claims.append((request.queues, [(command, request)]))
                }
            case .complete(let request):
                completes.append((command, request))
            default:
                rest.append(command)
            }
        }
        if !enqueues.isEmpty {
            let jobs = try store.enqueue(plain: enqueues.map { ($0.request, context(for: $0.command, now)) })
            for (item, job) in zip(enqueues, jobs) { answer(item.command, .enqueued(job, created: true), now: now, into: &completions) }
            let eligible = eligibleQueues(jobs, now)
            if !eligible.isEmpty { try serveWaiters(in: eligible, now: now, into: &completions) }
        }
        for group in claims {
            let outcomes = try store.claim(together: group.items.map { claimItem($0.command, $0.request, now) })
            for (item, outcome) in zip(group.items, outcomes) {
                answer(item.command, claimReply(outcome, item.request, now: now), now: now, into: &completions)
            }
        }
        if !completes.isEmpty {
            let results = try store.complete(together: completes.map { ($0.request, context(for: $0.command, now)) })
            var freed: Set<String> = []
            for (item, result) in zip(completes, results) {
                switch result {
                case .success(let job):
                    answer(item.command, .job(job), now: now, into: &completions)
                    freed.formUnion(freedQueues([job]))
                case .failure(let refusal):
                    answer(item.command, .failure(refusal.protocolError), now: now, into: &completions)
                }
            }
            freed.formUnion(takeReleased())
            if !freed.isEmpty { try serveWaiters(in: freed, now: now, into: &completions) }
        }
        return rest
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
