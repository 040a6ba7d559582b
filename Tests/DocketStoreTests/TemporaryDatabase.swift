import DocketProtocol
import DocketStore
import DocketTestSupport
import Foundation
import Logging

/// A fresh, empty store of one backend, removed when the test ends: a database file in a
/// temporary folder of its own, or a database of its own on the test PostgreSQL server.
final class TemporaryDatabase {
    let backend: Backend
    let folder: URL
    /// The SQLite file or the PostgreSQL URL.
    let path: String
    let store: any JobStore
    var now: Int64 = 1_795_000_000_000

    /// `shared`: on PostgreSQL, one database for every test that asks for it (tests whose
    /// jobs cannot meet: the transition matrix makes one job per case), since creating one
    /// per case is the larger part of those tests' time.
    init(_ backend: Backend = .sqlite, shared: Bool = false) throws {
        self.backend = backend
        self.shared = shared && backend == .postgresql
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("docket-store-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        switch backend {
        case .sqlite: path = folder.appendingPathComponent("docket.db").path
        case .postgresql: path = shared ? try Self.sharedDatabase.get() : try TestPostgres.newStore()
        }
        store = try Self.open(backend, path)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
        if backend == .postgresql && !shared {
            let url = path
            Thread.detachNewThread { TestPostgres.dropStore(url) }
        }
    }

    private let shared: Bool
    /// The queue `enqueue` and `claim` use unless told: "q", or one of this test's own in a
    /// shared database.
    lazy var defaultQueue = shared ? "q-\(UUID().uuidString.prefix(8))" : "q"
    private static let sharedDatabase = Result { try TestPostgres.newStore() }

    static func open(_ backend: Backend, _ path: String) throws -> any JobStore {
        switch backend {
        case .sqlite: return try SQLiteJobStore(path: path)
        case .postgresql: return try PostgresJobStore(settings: try PostgresSettings(url: path), logger: Logger(label: "test"))
        }
    }

    /// The same database opened again, as a restarted daemon would.
    func reopen() throws -> any JobStore {
        try Self.open(backend, path)
    }

    /// The SQLite store, for tests about SQLite itself.
    var sqlite: SQLiteJobStore { store as! SQLiteJobStore }

    var context: ChangeContext { ChangeContext(now: now, peer: "1@1000") }

    /// Runs one change in its own transaction, as the writer does for a batch of one.
    func change<T>(_ body: (any JobStore) throws(StoreError) -> T) throws(StoreError) -> T {
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
    func enqueue(_ queue: String? = nil, priority: Int64 = 0, runAt: RunAt = .now, maxAttempts: Int64 = 3, uniqueKey: String? = nil)
        throws -> Job
    {
        try change { store throws(StoreError) in
            try store.enqueue(
                EnqueueRequest(queue: queue ?? defaultQueue, priority: priority, runAt: runAt, maxAttempts: maxAttempts, uniqueKey: uniqueKey),
                context
            ).job
        }
    }

    func claim(_ queues: [String]? = nil, leaseMs: Int64 = 30_000) throws -> Job? {
        try change { store throws(StoreError) in
            try store.claim(ClaimRequest(queues: queues ?? [defaultQueue], leaseMs: leaseMs), worker: "w", context).job
        }
    }
}
