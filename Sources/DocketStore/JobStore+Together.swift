import DocketProtocol

/// One claim of a group.
public struct ClaimItem: Sendable {
    public var request: ClaimRequest
    public var worker: String?
    public var context: ChangeContext

    public init(request: ClaimRequest, worker: String?, context: ChangeContext) {
        self.request = request
        self.worker = worker
        self.context = context
    }
}

/// Requests of several clients, by kind, applied in this order: the plain enqueues (no
/// `unique_key`, no `after`), the claims (each group of the same queues), the completions.
/// All contexts carry one time; they differ in the peer.
public struct TogetherBatch: Sendable {
    public var enqueues: [(request: EnqueueRequest, context: ChangeContext)] = []
    public var claims: [[ClaimItem]] = []
    public var completes: [(request: CompleteRequest, context: ChangeContext)] = []

    public init() {}

    public var isEmpty: Bool { enqueues.isEmpty && claims.isEmpty && completes.isEmpty }
    var now: Int64? { (enqueues.first?.context ?? claims.first?.first?.context ?? completes.first?.context)?.now }
}

/// What `apply(together:)` did, item by item: the enqueued jobs, each claim group's
/// outcomes, and each completion's job or refusal (any other failure is thrown).
public struct TogetherResults: Sendable {
    public var enqueued: [Job] = []
    public var claimed: [[ClaimOutcome]] = []
    public var completed: [Result<Job, StoreError>] = []

    public init() {}
}

/// Requests of one kind from different clients, applied together.
///
/// The coordinator hands a batch's plain enqueues, its claims of each set of queues and its
/// completions over at once. The result must be as if each item had been applied alone, in
/// order, which is what these defaults do: a store whose statements cost nothing to send
/// (SQLite, in process) needs nothing more. A store with a round trip per statement
/// (PostgreSQL) overrides them: one statement per group, all sent before any answer is
/// waited for.
extension JobStore {
    public func claim(together items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome] {
        try claimEach(items)
    }

    public func apply(together batch: TogetherBatch) throws(StoreError) -> TogetherResults {
        var results = TogetherResults()
        for item in batch.enqueues { results.enqueued.append(try enqueue(item.request, item.context).job) }
        for group in batch.claims { results.claimed.append(try claim(together: group)) }
        results.completed = try completeEach(batch.completes)
        return results
    }

    /// Claims one by one until one finds nothing; the claims after it, of the same queues,
    /// would find nothing either and get the same outcome without asking.
    func claimEach(_ items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome] {
        var outcomes: [ClaimOutcome] = []
        outcomes.reserveCapacity(items.count)
        for item in items {
            if let last = outcomes.last, last.job == nil {
                outcomes.append(last)
                continue
            }
            outcomes.append(try claim(item.request, worker: item.worker, item.context))
        }
        return outcomes
    }

    func completeEach(_ items: [(request: CompleteRequest, context: ChangeContext)]) throws(StoreError)
        -> [Result<Job, StoreError>]
    {
        var results: [Result<Job, StoreError>] = []
        results.reserveCapacity(items.count)
        for item in items {
            do {
                results.append(.success(try complete(item.request, item.context)))
            } catch where error.isRefusal {
                results.append(.failure(error))
            }
        }
        return results
    }
}
