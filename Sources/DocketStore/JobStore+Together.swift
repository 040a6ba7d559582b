import DocketProtocol

/// One claim of `claim(together:)`.
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

/// Requests of one kind from different clients, applied together.
///
/// The coordinator hands a batch's plain enqueues, its claims of one set of queues and its
/// completions over as groups. Each group must come out as if its items had been applied one
/// by one in order, which is what these defaults do: a store whose statements cost nothing
/// to send (SQLite, in process) needs nothing more. A store with a round trip per statement
/// (PostgreSQL) overrides them with one statement per group.
extension JobStore {
    public func enqueue(plain items: [(request: EnqueueRequest, context: ChangeContext)]) throws(StoreError) -> [Job] {
        try enqueueEach(items)
    }

    public func claim(together items: [ClaimItem]) throws(StoreError) -> [ClaimOutcome] {
        try claimEach(items)
    }

    public func complete(together items: [(request: CompleteRequest, context: ChangeContext)]) throws(StoreError)
        -> [Result<Job, StoreError>]
    {
        try completeEach(items)
    }

    func enqueueEach(_ items: [(request: EnqueueRequest, context: ChangeContext)]) throws(StoreError) -> [Job] {
        var jobs: [Job] = []
        jobs.reserveCapacity(items.count)
        for item in items { jobs.append(try enqueue(item.request, item.context).job) }
        return jobs
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
