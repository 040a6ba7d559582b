import CSQLite
import Dispatch
import DocketProtocol
import Synchronization

/// Copies the WAL back into the database file, the bulk on a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so one
/// unlucky batch of requests would wait for it (and its fsync of the database file). Here
/// the writer's commit only signals, and a separate connection checkpoints in `PASSIVE` mode,
/// which never blocks the writer or the readers.
///
/// The WAL starts over only when a transaction begins with all of it copied, and the writer
/// goes on committing while a checkpoint runs, so a checkpoint on another thread hardly ever
/// leaves it whole. Run back to back until one did, checkpoints cost hundreds of fsyncs a
/// second under load. Instead this thread copies the bulk once per `thresholdPages` new
/// frames, and the writer copies the few committed meanwhile (`finishCheckpoint`) at a moment
/// when no request waits; its next transaction starts the WAL over.
public final class WALCheckpointer: @unchecked Sendable {
    /// New WAL frames after which a checkpoint is started (SQLite's own default is 1000).
    public static let defaultThresholdPages: Int32 = 8000
    /// The most frames the writer copies itself; a longer tail goes back to this thread.
    static let writerTailPages: Int32 = 512
    /// With this many thresholds' worth of frames in the WAL, the writer has had no moment to
    /// finish a checkpoint (saturation), and checkpoints run back to back until one leaves
    /// the WAL whole, so that it starts over however busy the writer is.
    static let catchUpThresholds: Int32 = 4

    private let thresholdPages: Int32
    private let connection: SQLiteConnection
    /// The writer's store, used on the writer's thread only (`finishCheckpoint`).
    private let store: SQLiteJobStore
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    // Written by the writer thread's WAL hook, read by the checkpoint thread; a lost or extra
    // wake-up costs one idle checkpoint at most.
    private nonisolated(unsafe) var stopping = false
    private nonisolated(unsafe) var requested = false
    // The writer thread's own: the WAL's size at its last commit, and when the last
    // checkpoint was requested.
    private nonisolated(unsafe) var walPages: Int32 = 0
    private nonisolated(unsafe) var requestedAt: Int32 = 0
    private nonisolated(unsafe) var finishedByWriter = 0
    /// Frames the last checkpoint of this thread left copied, for the writer to finish; -1
    /// when there is nothing for it to finish.
    private let copiedByLast = Atomic<Int32>(-1)
    /// Checkpoints run and the longest one, for the log at shutdown (written by the
    /// checkpoint thread, read after it has ended).
    private nonisolated(unsafe) var statistics = Statistics()

    public struct Statistics: Sendable {
        /// Checkpoints of the checkpoint thread, and the longest of them.
        public var checkpoints = 0
        public var longest = Duration.zero
        /// Checkpoints the writer finished.
        public var finishedByWriter = 0
    }

    /// Opens the checkpoint connection and takes over checkpoints from `store`'s commits.
    public init(store: SQLiteJobStore, thresholdPages: Int32 = defaultThresholdPages) throws(StoreError) {
        self.store = store
        self.thresholdPages = thresholdPages
        connection = try SQLiteConnection(path: store.path)
        // FULL whatever the writer uses: the WAL is synced before it is copied and the
        // database after, so the WAL never starts over on pages that are not yet on disk.
        // (The writer's own checkpoints, at `synchronous = NORMAL`, sync both as well.)
        try connection.execute("PRAGMA synchronous = FULL")
        try connection.openFilesNow()
        store.onWALCommit { [self] pages in
            walPages = pages
            if pages < requestedAt { requestedAt = 0 }  // the WAL started over
            if pages - requestedAt >= thresholdPages || pages >= Self.catchUpThresholds * thresholdPages {
                requestedAt = pages
                request()
            }
        }
        startThread(name: "docket-checkpt") { [self] in run() }
    }

    /// Whether a checkpoint of this thread has ended and waits for the writer to finish it.
    var checkpointToFinish: Bool { copiedByLast.load(ordering: .relaxed) >= 0 }

    /// Called on the writer's thread when no request waits: copies what was committed while
    /// the last checkpoint ran, so that the next transaction starts the WAL over.
    public func finishCheckpoint() {
        let copied = copiedByLast.exchange(-1, ordering: .relaxed)
        guard copied >= 0 else { return }
        guard walPages - copied <= Self.writerTailPages else {
            request()  // too long to copy here without holding up the next batch
            return
        }
        if let (_, copied) = try? store.db.checkpointPassively(), copied >= 0 { finishedByWriter += 1 }
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
            if let (_, copied) = try? connection.checkpointPassively(), copied >= 0 {
                copiedByLast.store(copied, ordering: .relaxed)
            }
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
        var all = statistics
        all.finishedByWriter = finishedByWriter
        return all
    }
}
