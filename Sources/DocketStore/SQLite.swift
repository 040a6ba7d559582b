import CSQLite
import CWALBuffer

#if canImport(Glibc)
import Glibc
#endif

/// Process-wide SQLite settings, applied once before the first connection opens.
private let sqliteConfigured: Void = { _ = docket_sqlite_disable_memory_statistics() }()

/// One SQLite connection, used by one thread at a time. Statements are prepared once and cached.
final class SQLiteConnection {
    let handle: OpaquePointer
    private var cache: [SQLKey: Statement] = [:]

    /// `gatheringWALWrites`: through the VFS of `CWALBuffer`, which writes each commit's WAL
    /// frames with one call instead of two per frame; for the one connection that writes.
    init(path: String, readOnly: Bool = false, gatheringWALWrites: Bool = false) throws(StoreError) {
        _ = sqliteConfigured
        var db: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        if gatheringWALWrites {
            let registered = docket_wal_buffer_register()
            guard registered == SQLITE_OK else { throw .storage("cannot register SQLite's WAL-gathering VFS (SQLite error \(registered))") }
        }
        let rc = sqlite3_open_v2(path, &db, flags, gatheringWALWrites ? docket_wal_buffer_vfs_name : nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            throw .storage("cannot open \(path): \(message) (SQLite error \(rc))")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        // Every connection waits out another's lock briefly rather than failing at once, and
        // sorts in memory: a temporary file needs a descriptor, which may be the one we lack.
        sqlite3_busy_timeout(db, 5000)
        sqlite3_exec(db, "PRAGMA temp_store = MEMORY", nil, nil, nil)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// The failure of the call that just returned `code`; call it before anything else, so
    /// that `errno` is still that call's.
    func error(_ code: Int32) -> StoreError {
        // "disk I/O error" alone does not tell a file system gone read-only from a failing
        // disk or a file made immutable; the errno of the failed system call does. SQLite
        // keeps it (sqlite3_system_errno) for only some failures, not for a failed commit.
        let systemError = errno
        var message = String(cString: sqlite3_errmsg(handle))
        if [SQLITE_IOERR, SQLITE_CANTOPEN].contains(code & 0xFF), systemError != 0 {
            message += ": \(String(cString: strerror(systemError)))"
        }
        return .storage("\(message) (SQLite error \(code))")
    }

    /// The primary result code of the last failed call (SQLITE_NOTADB, SQLITE_FULL, …).
    var lastErrorCode: Int32 { sqlite3_errcode(handle) & 0xFF }

    /// The extended result code of the last failed call (SQLITE_IOERR_FSYNC, …).
    var lastExtendedErrorCode: Int32 { sqlite3_extended_errcode(handle) }

    /// Opens the WAL and shared-memory files, which SQLite otherwise opens at the first read:
    /// a connection made at start-up must not need a new descriptor when they are scarce.
    func openFilesNow() throws(StoreError) {
        _ = try scalar("SELECT count(*) FROM sqlite_master")
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(StoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// A `PASSIVE` checkpoint, which copies what it can of the WAL into the database without
    /// waiting for readers or the writer: how many frames the WAL holds, and how many of them
    /// are in the database now (both -1 when another checkpoint was running).
    func checkpointPassively() throws(StoreError) -> (frames: Int32, copied: Int32) {
        var frames: Int32 = -1
        var copied: Int32 = -1
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied)
        guard rc == SQLITE_OK || rc == SQLITE_BUSY else { throw error(rc) }
        return (frames, copied)
    }

    /// The cached prepared statement for `sql`, reset and with its bindings cleared.
    func prepare(_ sql: String) throws(StoreError) -> Statement {
        if let statement = cache[SQLKey(sql: sql)] {
            statement.reset()
            return statement
        }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc) }
        let statement = Statement(raw, connection: self)
        cache[SQLKey(sql: sql)] = statement
        return statement
    }

    /// The single integer a pragma or aggregate query answers.
    func scalar(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Int64? {
        let statement = try prepare(sql)
        statement.bind(values)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int(0)
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound file, else one line per problem.
    func integrityCheck() throws(StoreError) -> [String] {
        let statement = try prepare("PRAGMA integrity_check")
        defer { statement.reset() }
        var lines: [String] = []
        while try statement.step() { lines.append(statement.text(0)) }
        return lines
    }

    /// The SQL of every statement prepared on this connection so far.
    var preparedSQL: [String] { cache.keys.map(\.sql) }

    var changes: Int { Int(sqlite3_changes(handle)) }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
}

/// The statement cache's key: SQL text hashed by its length and last bytes only. The writer
/// looks a statement up a dozen times per request, and hashing every byte of texts hundreds
/// of bytes long showed in profiles; equality still compares the whole text.
private struct SQLKey: Hashable {
    let sql: String

    func hash(into hasher: inout Hasher) {
        hasher.combine(sql.utf8.count)
        for byte in sql.utf8.suffix(32) { hasher.combine(byte) }
    }
}

/// A prepared statement; indexes of `bind` start at 1, of columns at 0, as in SQLite.
final class Statement {
    let raw: OpaquePointer
    unowned let connection: SQLiteConnection

    init(_ raw: OpaquePointer, connection: SQLiteConnection) {
        self.raw = raw
        self.connection = connection
    }

    deinit { sqlite3_finalize(raw) }

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(raw, index, value) } else { sqlite3_bind_null(raw, index) }
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value {
            sqlite3_bind_text(raw, index, value, -1, docket_sqlite_transient())
        } else {
            sqlite3_bind_null(raw, index)
        }
    }

    func bind(_ index: Int32, _ value: Double) {
        sqlite3_bind_double(raw, index, value)
    }

    /// Binds values to ?1, ?2, … in order.
    func bind(_ values: [SQLValue]) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .int(let number): bind(index, number)
            case .text(let text): bind(index, text)
            case .null: sqlite3_bind_null(raw, index)
            }
        }
    }

    /// Advances to the next row; false when the statement is done.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let failure = connection.error(rc)
            sqlite3_reset(raw)
            throw failure
        }
    }

    /// Runs a statement that returns no rows.
    func run(_ values: [SQLValue] = []) throws(StoreError) {
        if !values.isEmpty { bind(values) }
        while try step() {}
        sqlite3_reset(raw)
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }

    func optionalInt(_ column: Int32) -> Int64? { isNull(column) ? nil : int(column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(raw, column) else { return "" }
        let count = Int(sqlite3_column_bytes(raw, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
}

/// A value bound to a statement whose parameters are assembled at run time.
enum SQLValue {
    case int(Int64)
    case text(String)
    case null
}
