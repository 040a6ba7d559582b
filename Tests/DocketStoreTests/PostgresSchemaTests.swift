@testable import DocketStore
import DocketProtocol
import DocketTestSupport
import Testing

@Suite("PostgreSQL: schema, plans and start-up checks", .enabled(if: TestPostgres.server != nil, "needs PostgreSQL"))
struct PostgresSchemaTests {
    /// The claim walks the ready index from its start, with no sort, however many jobs are
    /// pending and however many delayed ones wait: delayed jobs are outside that index.
    @Test func claim_walksTheReadyIndex_withDelayedJobsOffItsPath() throws {
        let db = try TemporaryDatabase(.postgresql)
        try TestPostgres.psql(
            db.path,
            """
            INSERT INTO docket_jobs (queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms,
                                     backoff_max_ms, run_at, created_at, updated_at)
            SELECT 'q', CASE WHEN n % 5 = 0 THEN 'pending' ELSE 'scheduled' END, 1, 0, 'null', 0, 3, 1000, 3600000,
                   CASE WHEN n % 5 = 0 THEN 1 ELSE 9000000000000 END, 1, 1
            FROM generate_series(1, 200000) AS n;
            ANALYZE docket_jobs;
            """)
        // One claim, and several together (their leases an array, $5 how many).
        for (leases, count) in [("'{30000}'", "1"), ("'{30000,30000}'", "2")] {
            let explain = try PostgresSchemaTests.explain(
                db.path, PostgresJobStore.claimStatement(queues: 1), "'q'", leases: leases, count: count)
            #expect(explain.contains("docket_jobs_ready"), "\(explain)")
            #expect(!explain.contains("Sort"), "\(explain)")
            // docket_queues, a handful of rows, may well be read whole.
            #expect(!explain.contains("Seq Scan on docket_jobs"), "\(explain)")
        }
    }

    /// The plan of a claim statement with its parameters bound ($4 to `queue`).
    static func explain(_ url: String, _ statement: String, _ queue: String, leases: String, count: String) throws -> String {
        let bound = statement.replacingOccurrences(of: "$1", with: leases).replacingOccurrences(of: "$2", with: "1")
            .replacingOccurrences(of: "$3", with: "NULL").replacingOccurrences(of: "$4", with: queue)
            .replacingOccurrences(of: "$5", with: count)
        return try TestPostgres.psql(url, "EXPLAIN " + bound)
    }

    /// On a new database holding a few jobs, where reading the whole table (or the whole of
    /// an index of the jobs in one state) looks cheapest, the writer's connection still finds
    /// jobs by primary key: the plans made there are kept by its prepared statements long
    /// after the table has grown. Checked for a grouped claim's update, and, each as
    /// PostgreSQL keeps it (its generic plan), for the grouped completion, a completion alone,
    /// a limited queue's claim and the promotion of delayed jobs.
    @Test func writerPlans_useIndexesOnANewDatabase() throws {
        let db = try TemporaryDatabase(.postgresql)
        let store = db.store as! PostgresJobStore
        for _ in 0..<3 { try db.enqueue() }
        let plan = try store.queryPlan("UPDATE docket_jobs SET attempt = attempt + 1 WHERE id = ANY('{1,2,3}'::int8[])").joined()
        #expect(!plan.contains("Seq Scan") && plan.contains("docket_jobs_pkey"), "\(plan)")
        let grouped = try Self.keptPlan(
            store, PostgresJobStore.completeTogetherStatement, "'{1,2,3}', '{2,2,2}', '{NULL,NULL,NULL}', 1, '{running}'")
        #expect(grouped.contains("Update on docket_jobs"), "\(grouped)")
        #expect(!grouped.contains("docket_jobs_running_keys") && !grouped.contains("docket_jobs_leases"), "\(grouped)")
        #expect(grouped.contains("docket_jobs_pkey"), "\(grouped)")
        // Not through docket_jobs_ready, whose condition is `state = 'pending'`.
        let take = try Self.keptPlan(store, PostgresJobStore.takeStatement, "1, 30000, 1, NULL, 'pending'")
        #expect(take.contains("docket_jobs_pkey") && !take.contains("docket_jobs_ready"), "\(take)")
        // The due jobs through docket_jobs_delayed, their update by primary key.
        let promote = try Self.keptPlan(store, PostgresJobStore.promoteStatement, "1, 'scheduled'")
        #expect(promote.contains("docket_jobs_pkey") && promote.components(separatedBy: "docket_jobs_delayed").count == 2, "\(promote)")
        // And one transition alone: a completion, as prepared on the writer's connection.
        try db.enqueue()
        let job = try #require(try db.claim())
        _ = try db.change { store throws(StoreError) in
            try store.complete(CompleteRequest(fence: JobVersion(job: job.id, version: job.version)), db.context)
        }
        let prepared = try store.session.run("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%state = ''completed''%'")
            .map { $0.makeRandomAccess().text(0) }
        let one = try Self.keptPlan(store, try #require(prepared.first), "\(job.id), \(job.version), 1, NULL, '{running}'")
        #expect(!one.contains("docket_jobs_running_keys") && !one.contains("docket_jobs_leases"), "\(one)")
    }

    /// The plan PostgreSQL keeps for `statement` once prepared (its generic plan), executed
    /// with `arguments`.
    static func keptPlan(_ store: PostgresJobStore, _ statement: String, _ arguments: String) throws -> String {
        try store.session.run("SET plan_cache_mode = force_generic_plan")
        try store.session.run("PREPARE kept AS " + statement)
        let plan = try store.session.run("EXPLAIN EXECUTE kept(\(arguments))").map { $0.makeRandomAccess().text(0) }.joined()
        try store.session.run("DEALLOCATE kept")
        try store.session.run("RESET plan_cache_mode")
        return plan
    }

    /// A database with a newer schema than this build is refused before anything is written.
    @Test func newerSchema_isRefused() throws {
        let db = try TemporaryDatabase(.postgresql)
        try TestPostgres.psql(db.path, "INSERT INTO docket_schema_migrations (version) VALUES (99)")
        #expect(throws: StoreError.self) { _ = try db.reopen() }
        #expect(try TestPostgres.psql(db.path, "SELECT max(version) FROM docket_schema_migrations") == "99")
    }

    /// Migrations are recorded, and daemons starting together migrate once.
    @Test func migrations_areRecordedOnce() throws {
        let db = try TemporaryDatabase(.postgresql)
        _ = try db.reopen()
        _ = try db.reopen()
        let versions = try TestPostgres.psql(db.path, "SELECT string_agg(version::text, ',' ORDER BY version) FROM docket_schema_migrations")
        #expect(versions == (1...PostgresSchema.latestVersion).map(String.init).joined(separator: ","))
    }

    /// The hot statements are prepared once per connection and then run by name: a second
    /// round of the same changes prepares nothing more. Events without data or peer (NULLs
    /// inside the event insert's arrays) come back as they went in.
    @Test func hotStatements_arePreparedOnce() throws {
        let db = try TemporaryDatabase(.postgresql)
        let store = db.store as! PostgresJobStore
        func round() throws -> Int64 {
            try db.enqueue()
            let job = try #require(try db.claim())
            _ = try db.change { store throws(StoreError) in
                try store.complete(CompleteRequest(fence: JobVersion(job: job.id, version: job.version)), ChangeContext(now: db.now, peer: nil))
            }
            return job.id
        }
        func prepared() throws -> [String] {
            try store.session.run("SELECT statement FROM pg_prepared_statements").map { $0.makeRandomAccess().text(0) }
        }
        _ = try round()
        let afterOne = try prepared()
        #expect(afterOne.contains { $0.contains("FOR NO KEY UPDATE SKIP LOCKED") })
        #expect(afterOne.contains { $0.contains("INSERT INTO docket_events") })
        let job = try round()
        #expect(try prepared().count == afterOne.count)
        let completed = try #require(try store.events(ofJob: job).last)
        #expect(completed.kind == .completed && completed.data == nil && completed.peer == nil)
    }

    /// Statements sent without waiting answer in order, each with its own rows, also when a
    /// `run` in between waited for them; the first failure among them is the one reported,
    /// and the session serves the next statement.
    @Test func sentStatements_keepTheirRows_acrossAnEarlierWait() throws {
        let db = try TemporaryDatabase(.postgresql)
        let session = (db.store as! PostgresJobStore).session
        let first = try session.send("SELECT $1::int8 + 1", [.int(41)])
        let second = try session.send("SELECT $1::text", [.text("two")])
        #expect(try session.run("SELECT 3::int8").first?.makeRandomAccess().int(0) == 3)
        let rows = try session.answers([first, second])
        #expect(rows[0].first?.makeRandomAccess().int(0) == 42)
        #expect(rows[1].first?.makeRandomAccess().text(0) == "two")
        try session.send("SELECT 1 / $1::int8", [.int(0)])
        let after = try session.send("SELECT 5::int8")
        #expect {
            _ = try session.answers([after])
        } throws: { error in
            "\(error)".contains("division by zero")
        }
        #expect(try session.run("SELECT 6::int8").first?.makeRandomAccess().int(0) == 6)
    }

    /// A parameter without a cast gets its bound type written in; one with a cast, or inside
    /// a string literal, is left as it is.
    @Test func preparedStatementText_typesItsParameters() {
        let typed = PostgresSession.typed(
            "SELECT $1 + $2::int4, '$3', $3 = ANY($4), $10",
            [.int(1), .int(2), .optionalText(nil), .textArray([]), .int(0), .int(0), .int(0), .int(0), .int(0), .bool(true)])
        #expect(typed == "SELECT $1::int8 + $2::int4, '$3', $3::text = ANY($4::text[]), $10::bool")
    }

    /// The URL forms of libpq, and a password that never shows in what is logged.
    @Test func settings_parseTheURL_andHideThePassword() throws {
        let tcp = try PostgresSettings(url: "postgresql://app:s%40cret@db.example:6543/jobs?sslmode=disable")
        #expect(tcp.configuration.host == "db.example" && tcp.configuration.port == 6543)
        #expect(tcp.configuration.username == "app" && tcp.configuration.password == "s@cret" && tcp.configuration.database == "jobs")
        #expect(!tcp.description.contains("cret") && tcp.description.contains("***"))
        let socket = try PostgresSettings(url: "postgres://me@/jobs?host=/run/postgresql", environment: ["PGPASSWORD": "pw"])
        #expect(socket.configuration.unixSocketPath == "/run/postgresql/.s.PGSQL.5432" && socket.configuration.password == "pw")
        #expect(!socket.description.contains("pw"))
        #expect(throws: StoreError.self) { _ = try PostgresSettings(url: "postgresql://h:99999/x") }
        #expect(throws: StoreError.self) { _ = try PostgresSettings(url: "postgresql://h/x?sslmode=sometimes") }
    }
}
