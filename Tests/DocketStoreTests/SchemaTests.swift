import DocketProtocol
import DocketStore
import DocketTestSupport
import Foundation
import Testing

@Suite("Schema and migrations")
struct SchemaTests {
    /// A new database records the latest migration and Docket's application id.
    @Test func newDatabase_isMigratedAndMarked() throws {
        let db = try TemporaryDatabase()
        #expect(try db.sqlite.schemaVersion() == SQLiteJobStore.latestSchemaVersion)
        #expect(try db.sqlite.integrityCheck() == ["ok"])
    }

    /// Opening a migrated database again changes nothing and keeps its jobs.
    @Test func reopening_keepsJobsAndVersion() throws {
        let db = try TemporaryDatabase()
        let job = try db.enqueue()
        let again = try SQLiteJobStore(path: db.path)
        #expect(try again.schemaVersion() == SQLiteJobStore.latestSchemaVersion)
        #expect(try again.job(job.id) == job)
    }

    /// A database written by schema version 1 is migrated forward with its jobs and history intact.
    @Test func versionOneDatabase_isMigratedForward() throws {
        let db = try TemporaryDatabase()
        let path = db.folder.appendingPathComponent("v1.db").path
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/schema-v1.sql")
        try SQLiteShell(path: path).run(".read \(fixture.path)")
        #expect(try SQLiteShell(path: path).query("PRAGMA user_version") == "1")
        let store = try SQLiteJobStore(path: path)
        #expect(try store.schemaVersion() == SQLiteJobStore.latestSchemaVersion)
        #expect(try store.job(1)?.result == RawJSON(["sent": true]))
        #expect(try store.job(2)?.uniqueKey == "welcome:a@b")
        #expect(try store.events(ofJob: 1).map(\.kind) == [.enqueued, .claimed, .progress, .completed])
        #expect(try store.schedules().isEmpty)
        #expect(try store.integrityCheck() == ["ok"])
        let next = try store.enqueue(EnqueueRequest(queue: "emails"), ChangeContext(now: 1_795_000_002_000)).job
        #expect(next.id == 3, "ids continue after the migrated ones")
    }

    /// Claims read the best job straight off the `jobs_ready` index: no scan, no sort.
    @Test func claimQuery_usesTheReadyIndex() throws {
        let db = try TemporaryDatabase()
        let plan = try db.sqlite.queryPlan(
            "SELECT id, priority, run_at FROM jobs WHERE queue = 'q' AND state = 'pending' ORDER BY priority, run_at, id LIMIT 1")
        #expect(plan.count == 1)
        #expect(plan[0].contains("USING COVERING INDEX jobs_ready") || plan[0].contains("USING INDEX jobs_ready"))
        #expect(!plan.joined().contains("TEMP B-TREE"))
    }

    /// No change builds a temporary B-tree as it runs (an IN list of three or more constants
    /// in a statement, a CHECK or a partial index does, for every row): that cost more than
    /// the rest of a claim did.
    @Test func changes_buildNoTemporaryTables() throws {
        let db = try TemporaryDatabase()
        for op in FencedOp.allCases {
            for state in StartingState.allCases {
                let job = try state.make(in: db)
                _ = try? op.apply(JobVersion(job: job.id, version: job.version), in: db)
            }
        }
        // Past every lease and delay, so that expiry and promotion run their updates too.
        db.now += 24 * 3_600_000
        let (expired, promoted) = try db.change { store throws(StoreError) in
            (try store.expireLeases(db.context), try store.promoteDueJobs(db.context))
        }
        #expect(!expired.isEmpty && !promoted.isEmpty)
        let claimed = try #require(try db.claim())
        let released = try db.change { store throws(StoreError) in
            try store.release(JobVersion(job: claimed.id, version: claimed.version), db.context)
        }
        #expect(released.state == .pending)
        let building = try db.sqlite.statementsBuildingTemporaryTables()
        #expect(building.isEmpty, "these build a temporary B-tree per run: \(building)")
    }

    /// The deadline timer finds the next delayed job and the next lease through their indexes.
    @Test func deadlineQueries_useTheirIndexes() throws {
        let db = try TemporaryDatabase()
        let delayed = try db.sqlite.queryPlan("SELECT min(run_at) FROM jobs WHERE state = 'scheduled'")
        #expect(delayed.joined().contains("jobs_delayed"))
        let leases = try db.sqlite.queryPlan("SELECT min(lease_expires_at) FROM jobs WHERE state = 'running'")
        #expect(leases.joined().contains("jobs_leases"))
    }

    /// The schema itself refuses rows that break its invariants, whatever the code does.
    @Test func schema_rejectsInvalidRows() throws {
        let db = try TemporaryDatabase()
        try db.enqueue(uniqueKey: "k")
        let sqlite = try SQLiteShell(path: db.path)
        #expect(sqlite.fails("UPDATE jobs SET state = 'bogus'"))
        #expect(sqlite.fails("UPDATE jobs SET version = 0"))
        #expect(sqlite.fails("UPDATE jobs SET state = 'running'"), "running needs a lease")
        #expect(sqlite.fails("INSERT INTO jobs (queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms, backoff_max_ms, run_at, created_at, updated_at, unique_key) SELECT queue, state, 1, 0, 'null', 0, 3, 0, 0, 0, 0, 0, unique_key FROM jobs"))
        #expect(sqlite.fails("UPDATE jobs SET queue = NULL"))
    }

    /// A file that is not SQLite is refused with a message naming the problem.
    @Test func notSQLite_isRefused() throws {
        let db = try TemporaryDatabase()
        let path = db.folder.appendingPathComponent("garbage.db").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteJobStore(path: path)
        } throws: { error in
            guard case StoreError.incompatibleDatabase(let message) = error else { return false }
            return message.contains("not a SQLite database")
        }
    }

    /// Another application's SQLite database is refused and left untouched.
    @Test func foreignDatabase_isRefusedAndUntouched() throws {
        let db = try TemporaryDatabase()
        let path = db.folder.appendingPathComponent("other.db").path
        try SQLiteShell(path: path).run("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')")
        #expect {
            _ = try SQLiteJobStore(path: path)
        } throws: { error in
            guard case StoreError.incompatibleDatabase(let message) = error else { return false }
            return message.contains("another application")
        }
        #expect(try SQLiteShell(path: path).query("SELECT body FROM notes") == "keep me")
    }

    /// A database from a newer Docket is refused rather than misread.
    @Test func newerSchema_isRefused() throws {
        let db = try TemporaryDatabase()
        try SQLiteShell(path: db.path).run("PRAGMA user_version = 99")
        #expect {
            _ = try SQLiteJobStore(path: db.path)
        } throws: { error in
            guard case StoreError.incompatibleDatabase(let message) = error else { return false }
            return message.contains("newer")
        }
    }
}

/// The `sqlite3` command-line shell, to poke at a database behind the store's back.
struct SQLiteShell {
    let path: String

    init(path: String) throws { self.path = path }

    @discardableResult
    func run(_ sql: String) throws -> (status: Int32, output: String) {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-bail", path, sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = PipeIO.readToEnd(pipe.fileHandleForReading)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    func fails(_ sql: String) -> Bool {
        ((try? run(sql))?.status ?? 0) != 0
    }

    func query(_ sql: String) throws -> String {
        try run(sql).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
