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
