import CSQLite
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Operations on a whole database file: checking it and copying it while it is in use.
public enum DatabaseMaintenance {
    /// What `docketd --check` reports.
    public struct CheckReport: Sendable {
        /// `["ok"]` when `PRAGMA integrity_check` finds nothing wrong.
        public var integrity: [String]
        public var schemaVersion: Int64
        public var jobs: Int64
        public var events: Int64
        public var schedules: Int64

        public var isHealthy: Bool { integrity == ["ok"] }
    }

    /// Runs `PRAGMA integrity_check` and counts rows, without changing the file. Safe while a
    /// daemon serves the same database (WAL readers do not block its writer).
    public static func check(path: String) throws(StoreError) -> CheckReport {
        guard access(path, F_OK) == 0 else { throw .storage("\(path) does not exist") }
        let db = try SQLiteConnection(path: path, readOnly: true)
        try SQLiteJobStore.checkIsDocketDatabase(db, path: path)
        return CheckReport(
            integrity: try db.integrityCheck(), schemaVersion: try db.scalar("PRAGMA user_version") ?? 0,
            jobs: try db.scalar("SELECT count(*) FROM jobs") ?? 0, events: try db.scalar("SELECT count(*) FROM events") ?? 0,
            schedules: try db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'schedules'") == 1
                ? try db.scalar("SELECT count(*) FROM schedules") ?? 0 : 0)
    }

    /// Writes a consistent copy of the live database at `source` to `destination`, which must
    /// not exist yet (a backup never overwrites a file). Uses SQLite's online backup API in one
    /// step under a read transaction: a snapshot, taken without stopping the writer.
    public static func backup(from source: String, to destination: String) throws(StoreError) {
        guard destination.hasPrefix("/") else { throw .invalidRequest("the backup path must be absolute, not \(destination)") }
        // O_EXCL: refuse to overwrite anything, including a file created meanwhile.
        let fd = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .invalidRequest(
                "cannot create \(destination): \(String(cString: strerror(errno))); choose a new file in a folder docketd can write")
        }
        close(fd)
        do throws(StoreError) {
            let from = try SQLiteConnection(path: source, readOnly: true)
            let to = try SQLiteConnection(path: destination)
            guard let backup = sqlite3_backup_init(to.handle, "main", from.handle, "main") else {
                throw to.error(sqlite3_errcode(to.handle))
            }
            let stepped = sqlite3_backup_step(backup, -1)
            let finished = sqlite3_backup_finish(backup)
            guard stepped == SQLITE_DONE, finished == SQLITE_OK else { throw to.error(stepped == SQLITE_DONE ? finished : stepped) }
            // The copy is a standalone file: no WAL beside it.
            try to.execute("PRAGMA journal_mode = DELETE")
        } catch {
            unlink(destination)
            throw error
        }
    }
}
