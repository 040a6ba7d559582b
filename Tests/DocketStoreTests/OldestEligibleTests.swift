import DocketProtocol
import DocketStore
import DocketTestSupport
import Testing

/// The queue lag read: each queue's oldest run_at among its eligible pending jobs.
@Suite("Store: the oldest eligible job of each queue")
struct OldestEligibleTests {
    /// Across priorities the oldest run_at wins; delayed, running and finished jobs do not
    /// count; a queue with nothing eligible is absent.
    @Test(arguments: Backend.available) func oldestAcrossPriorities_onlyEligibleJobs(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let start = db.now
        try db.enqueue("mail", priority: 5)
        db.now += 1000
        try db.enqueue("mail", priority: -3)
        try db.enqueue("mail", priority: 0)
        try db.enqueue("report", runAt: .after(milliseconds: 60_000))
        try db.enqueue("busy")
        db.now += 1000
        _ = try db.claim(["busy"])
        try db.enqueue("later")
        #expect(try db.store.oldestEligible() == ["mail": start, "later": start + 2000])
        _ = try db.claim(["mail"])  // priority -3, run_at start + 1000
        _ = try db.claim(["mail"])  // priority 0, run_at start + 1000
        #expect(try db.store.oldestEligible() == ["mail": start, "later": start + 2000])
        _ = try db.claim(["mail"])
        #expect(try db.store.oldestEligible() == ["later": start + 2000])
    }

    /// More (queue, priority) groups than the index walk takes: the aggregate over every
    /// pending job gives the same answer.
    @Test(arguments: Backend.available) func manyPriorities_sameAnswer(_ backend: Backend) throws {
        let db = try TemporaryDatabase(backend)
        let start = db.now
        for priority in 0..<300 {
            try db.enqueue(priority % 2 == 0 ? "even" : "odd", priority: Int64(priority))
            db.now += 1
        }
        #expect(try db.store.oldestEligible() == ["even": start, "odd": start + 1])
    }
}
