import CSQLite
import Dispatch
import DocketProtocol

/// Copies the WAL back into the database file on a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so one
/// unlucky batch of requests would wait for it (and its fsync of the database file). Here
/// the writer's commit only signals, and a separate connection checkpoints in `PASSIVE` mode,
/// which never blocks the writer or the readers.
public final class WALCheckpointer: @unchecked Sendable {
    /// WAL pages after which a checkpoint is started (SQLite's own default is 1000).
    public static let thresholdPages: Int32 = 8000

    private let connection: SQLiteConnection
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    // Written by the writer thread's WAL hook, read by the checkpoint thread; a lost or extra
    // wake-up costs one idle checkpoint at most.
    private nonisolated(unsafe) var stopping = false
    private nonisolated(unsafe) var requested = false
    /// Checkpoints run and the longest one, for the log at shutdown (written by the
    /// checkpoint thread, read after it has ended).
    private nonisolated(unsafe) var statistics = Statistics()

    public struct Statistics: Sendable {
        public var checkpoints = 0
        public var longest = Duration.zero
    }

    /// Opens the checkpoint connection and takes over checkpoints from `store`'s commits.
    public init(store: SQLiteJobStore) throws(StoreError) {
        connection = try SQLiteConnection(path: store.path)
        // FULL whatever the writer uses: the WAL is synced before it is copied and the
        // database after, so the WAL never starts over on pages that are not yet on disk.
        try connection.execute("PRAGMA synchronous = FULL")
        try connection.openFilesNow()
        store.onWALCommit { [self] pages in
            if pages >= Self.thresholdPages { request() }
        }
        startThread(name: "docket-checkpt") { [self] in run() }
    }

    private func request() {
        guard !requested else { return }
        requested = true
        wakeUp.signal()
    }

    private func run() {
        while true {
            wakeUp.wait()
            requested = false
            if stopping {
                // The writer has stopped: fold the whole WAL in and truncate it.
                try? connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finished.signal()
                return
            }
            let started = ContinuousClock.now
            try? connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            statistics.checkpoints += 1
            statistics.longest = max(statistics.longest, ContinuousClock.now - started)
        }
    }

    /// After the writer has stopped: a last full checkpoint, so the WAL is empty on disk.
    /// Returns how many checkpoints ran while serving, and the longest.
    public func finish() -> Statistics {
        stopping = true
        wakeUp.signal()
        finished.wait()
        return statistics
    }
}
