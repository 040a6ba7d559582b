import DocketProtocol
import DocketStore
import DocketTestSupport
import Testing

/// Where a job stands before the op under test, and how to put it there.
enum StartingState: String, CaseIterable, CustomTestStringConvertible {
    case pending, delayed, running, completed, failed, cancelled

    var testDescription: String { rawValue }

    /// Builds a job in this state in `db`.
    func make(in db: TemporaryDatabase) throws -> Job {
        switch self {
        case .pending:
            return try db.enqueue()
        case .delayed:
            return try db.enqueue(runAt: .after(milliseconds: 60_000))
        case .running:
            try db.enqueue()
            return try #require(try db.claim())
        case .completed, .failed, .cancelled:
            try db.enqueue()
            let claimed = try #require(try db.claim())
            let fence = JobVersion(job: claimed.id, version: claimed.version)
            return try db.change { store throws(StoreError) in
                switch self {
                case .completed: return try store.complete(CompleteRequest(fence: fence), db.context)
                case .failed: return try store.fail(FailRequest(fence: fence, retry: false), jitter: 0, db.context)
                default: return try store.cancel(fence, db.context)
                }
            }
        }
    }
}

/// The ops that change an existing job.
enum FencedOp: String, CaseIterable, CustomTestStringConvertible {
    case progress, complete, fail, cancel, retry

    var testDescription: String { rawValue }

    func apply(_ fence: JobVersion, in db: TemporaryDatabase) throws(StoreError) -> Job {
        try db.change { store throws(StoreError) in
            switch self {
            case .progress: return try store.progress(ProgressRequest(fence: fence, progress: RawJSON(["pct": 50])), db.context)
            case .complete: return try store.complete(CompleteRequest(fence: fence, result: RawJSON(["ok": true])), db.context)
            case .fail: return try store.fail(FailRequest(fence: fence, error: RawJSON("boom")), jitter: 0, db.context)
            case .cancel: return try store.cancel(fence, db.context)
            case .retry: return try store.retry(fence, db.context)
            }
        }
    }

    /// The state each starting state moves to, or `nil` where the op is not allowed.
    func outcome(from state: StartingState) -> JobState? {
        switch (self, state) {
        case (.progress, .running): return .running
        case (.complete, .running): return .completed
        case (.fail, .running): return .pending  // attempts remain, so it is retried after backoff
        case (.cancel, .pending), (.cancel, .delayed), (.cancel, .running): return .cancelled
        case (.retry, .failed), (.retry, .cancelled): return .pending
        default: return nil
        }
    }
}

/// One op from one starting state.
struct TransitionCase: CustomTestStringConvertible, Sendable {
    let op: FencedOp
    let state: StartingState
    var testDescription: String { "\(op.rawValue) from \(state.rawValue)" }
    static let all = FencedOp.allCases.flatMap { op in StartingState.allCases.map { TransitionCase(op: op, state: $0) } }
}

@Suite("Transitions: every op from every state")
struct TransitionTests {
    /// With the current version, an op either moves the job as the contract says and bumps
    /// the version by exactly one, or is refused with `invalid_state` and changes nothing.
    @Test(arguments: Backend.available, TransitionCase.all)
    func currentVersion_appliesOrIsInvalidState(backend: Backend, transition: TransitionCase) throws {
        let (op, state) = (transition.op, transition.state)
        let db = try TemporaryDatabase(backend, shared: true)
        let before = try state.make(in: db)
        let eventsBefore = try db.store.events(ofJob: before.id).count
        let fence = JobVersion(job: before.id, version: before.version)
        if let expected = op.outcome(from: state) {
            let after = try op.apply(fence, in: db)
            #expect(after.state == expected)
            #expect(after.version == before.version + 1)
            #expect(try db.store.job(before.id) == after)
            let events = try db.store.events(ofJob: before.id)
            #expect(events.count == eventsBefore + 1)
            #expect(events.last?.version == after.version)
            #expect(events.last?.state == after.state)
        } else {
            #expect(throws: StoreError.invalidState(before.reference, operation: op.invalidStateVerb, allowed: op.allowedStates)) {
                try op.apply(fence, in: db)
            }
            #expect(try db.store.job(before.id) == before)
            #expect(try db.store.events(ofJob: before.id).count == eventsBefore)
        }
    }

    /// With any other version, every op is refused with `stale_version` carrying the job's
    /// present, and nothing changes — the rule that stops lost updates.
    @Test(arguments: Backend.available, TransitionCase.all)
    func staleVersion_changesNothing(backend: Backend, transition: TransitionCase) throws {
        let (op, state) = (transition.op, transition.state)
        let db = try TemporaryDatabase(backend, shared: true)
        let before = try state.make(in: db)
        for wrong in [before.version - 1, before.version + 1] where wrong >= 1 {
            #expect(throws: StoreError.staleVersion(before.reference, expected: wrong)) {
                try op.apply(JobVersion(job: before.id, version: wrong), in: db)
            }
        }
        #expect(try db.store.job(before.id) == before)
    }

    /// A job that does not exist is `not_found`, whatever the version.
    @Test(arguments: Backend.available, FencedOp.allCases)
    func missingJob_isNotFound(backend: Backend, op: FencedOp) throws {
        let db = try TemporaryDatabase(backend)
        #expect(throws: StoreError.jobNotFound(999)) { try op.apply(JobVersion(job: 999, version: 1), in: db) }
    }
}

extension FencedOp {
    var invalidStateVerb: String {
        switch self {
        case .progress: return "report progress on"
        default: return rawValue
        }
    }

    var allowedStates: [JobState] {
        switch self {
        case .progress, .complete, .fail: return [.running]
        case .cancel: return [.pending, .running]
        case .retry: return [.failed, .cancelled]
        }
    }
}
