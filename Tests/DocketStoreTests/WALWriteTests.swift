import DocketProtocol
import DocketStore
import Foundation
import Testing

/// The writer's connection gathers each commit's WAL frames in memory and writes them in one
/// go (`CWALBuffer`); other connections and processes must see exactly what was committed.
@Suite("The writer's gathered WAL writes")
struct WALWriteTests {
    /// One commit of about 3 MB: more than the 1 MiB gathering buffer, written in several
    /// calls of under 128 KiB (the most the default VFS writes at once). The sqlite3 shell,
    /// another process that reads the WAL from the file, finds every byte of it.
    @Test func largeCommit_isInTheFileWhole() throws {
        let db = try TemporaryDatabase()
        let payload = RawJSON(.string(String(repeating: "x", count: 10_000)))
        try db.change { store throws(StoreError) in
            for index in 0..<300 {
                _ = try store.enqueue(EnqueueRequest(queue: "big", payload: payload, uniqueKey: "k\(index)"), db.context)
            }
        }
        let shell = try SQLiteShell(path: db.path)
        #expect(try shell.query("SELECT count(*), sum(length(payload)) FROM jobs") == "300|\(300 * 10_002)")
        #expect(try shell.query("PRAGMA integrity_check") == "ok")
    }

    /// Commits of 180 to 300 jobs of about one page each, so that over the range a commit's
    /// last frame falls on every position around the 1 MiB buffer's edge, among them the
    /// one where its header fits and its page does not: the buffer is written out for room
    /// between the two, and the commit must still be in the file before it returns.
    @Test func commitsAcrossTheBufferEdge_areVisibleAtOnce() throws {
        let db = try TemporaryDatabase()
        let path = db.folder.appendingPathComponent("edge.db").path
        let store = try SQLiteJobStore(path: path, synchronous: .normal)
        let reader = try store.makeReader()
        let payload = RawJSON(.string(String(repeating: "y", count: 3_900)))
        var total = 0
        for size in 180...300 {
            try store.begin()
            var last: Job?
            for _ in 0..<size { last = try store.enqueue(EnqueueRequest(queue: "edge", payload: payload), db.context).job }
            try store.commit()
            total += size
            let id = try #require(last?.id)
            #expect(try reader.job(id)?.payload == payload, "the last job of a commit of \(size) was not readable at once")
        }
        #expect(try SQLiteShell(path: path).query("SELECT count(*) FROM jobs") == "\(total)")
    }

    /// Small commits one after another, each read at once by a reader connection and by
    /// another process: a commit is in the file as soon as it has returned, not when a later
    /// write fills the buffer. With `synchronous = NORMAL`, as docketd runs it: under FULL
    /// the commit's own sync writes the buffer out anyway.
    @Test func eachCommit_isVisibleAtOnce() throws {
        let db = try TemporaryDatabase()
        let path = db.folder.appendingPathComponent("normal.db").path
        let store = try SQLiteJobStore(path: path, synchronous: .normal)
        let reader = try store.makeReader()
        let shell = try SQLiteShell(path: path)
        for expected in 1...20 {
            try store.begin()
            let job = try store.enqueue(EnqueueRequest(queue: "small"), db.context).job
            try store.commit()
            #expect(try reader.job(job.id)?.id == job.id, "commit \(expected) was not visible to a reader")
            #expect(try shell.query("SELECT count(*) FROM jobs") == "\(expected)")
        }
    }
}
