import DocketProtocol
import DocketStore
import Foundation

/// A fresh database file in its own temporary folder, removed when the test ends.
final class TemporaryDatabase {
    let folder: URL
    let path: String
    let store: SQLiteJobStore
    var now: Int64 = 1_795_000_000_000

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        path = folder.appendingPathComponent("docket.db").path
        store = try SQLiteJobStore(path: path)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    var context: ChangeContext { ChangeContext(now: now, peer: "1@1000") }

    /// Runs one change in its own transaction, as the writer does for a batch of one.
    func change<T>(_ body: (SQLiteJobStore) throws(StoreError) -> T) throws(StoreError) -> T {
        try store.begin()
        do {
            let result = try body(store)
            try store.commit()
            return result
        } catch where error.isRefusal {
            // A refusal wrote nothing; committing proves the transaction is still whole.
            try store.commit()
            throw error
        } catch {
            store.rollback()
            throw error
        }
    }

    @discardableResult
    func enqueue(_ queue: String = "q", priority: Int64 = 0, runAt: RunAt = .now, maxAttempts: Int64 = 3, uniqueKey: String? = nil)
        throws -> Job
    {
        try change { store throws(StoreError) in
            try store.enqueue(
                EnqueueRequest(queue: queue, priority: priority, runAt: runAt, maxAttempts: maxAttempts, uniqueKey: uniqueKey),
                context
            ).job
        }
    }

    func claim(_ queues: [String] = ["q"], leaseMs: Int64 = 30_000) throws -> Job? {
        try change { store throws(StoreError) in
            try store.claim(ClaimRequest(queues: queues, leaseMs: leaseMs), worker: "w", context)
        }
    }
}
