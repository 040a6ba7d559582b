@testable import DocketStore
import DocketProtocol
import Foundation
import Testing

/// Checkpoints copy the bulk of the WAL on their own thread once per threshold's worth of new
/// frames, and the writer copies the rest when it is idle, so that the WAL starts over
/// without checkpoints running back to back. In docketd the writer commits while the
/// checkpoint thread copies, so the copy leaves the newest frames out; here a reader's open
/// snapshot holds the copy back the same way, at a point the test chooses.
@Suite("WAL checkpoints")
struct WALCheckpointTests {
    /// Once the writer finishes the checkpoint, its next commit starts the WAL over; without
    /// that, the WAL grows on.
    @Test func writerFinishesTheCheckpoint_andTheWALStartsOver() async throws {
        let wal = try WAL()
        try await wal.checkpointLeavingFramesOut()
        let beforeFinishing = wal.pages
        wal.checkpointer.finishCheckpoint()
        #expect(!wal.checkpointer.checkpointToFinish)
        try wal.commitOne()
        #expect(wal.pages < beforeFinishing / 4, "the WAL did not start over: \(beforeFinishing) frames, then \(wal.pages)")
        #expect(wal.checkpointer.finish().finishedByWriter == 1)
    }

    /// Commits over the threshold start no second checkpoint until another threshold's worth of
    /// frames has been added (each of them used to start one, back to back).
    @Test func oneCheckpointPerThreshold() async throws {
        let wal = try WAL()
        try await wal.checkpointLeavingFramesOut()
        for _ in 0..<5 { try wal.commitOne() }
        try await Task.sleep(for: .milliseconds(200))
        #expect(wal.checkpointer.finish().checkpoints == 1)
    }

    /// A store whose checkpoints start at 100 new frames, committing one enqueue at a time.
    private final class WAL {
        let database: TemporaryDatabase
        let store: SQLiteJobStore
        let checkpointer: WALCheckpointer
        /// The WAL's size after the last commit.
        private(set) var pages: Int32 = 0
        static let threshold: Int32 = 100

        init() throws {
            database = try TemporaryDatabase()
            store = try SQLiteJobStore(path: database.folder.appendingPathComponent("wal.db").path, synchronous: .normal)
            checkpointer = try WALCheckpointer(store: store, thresholdPages: Self.threshold)
            store.onWALCommit { [unowned self] in pages = $0 }
        }

        func commitOne() throws {
            try store.begin()
            _ = try store.enqueue(EnqueueRequest(queue: "wal"), database.context)
            _ = try store.commit()
        }

        /// Past the threshold, with a reader's snapshot from half-way keeping the checkpoint
        /// from copying the frames after it; returns once the checkpoint has run and the
        /// reader has let go, with frames left for the writer to copy.
        func checkpointLeavingFramesOut() async throws {
            while pages < Self.threshold / 2 { try commitOne() }
            let reader = try SQLiteConnection(path: store.path)
            try reader.execute("BEGIN; SELECT count(*) FROM jobs")
            while pages < Self.threshold { try commitOne() }
            let deadline = ContinuousClock.now + .seconds(10)
            while !checkpointer.checkpointToFinish {
                guard ContinuousClock.now < deadline else { throw CheckpointTimeout() }
                try await Task.sleep(for: .milliseconds(5))
            }
            try reader.execute("COMMIT")
        }
    }

    private struct CheckpointTimeout: Error {}
}
