/// The database schema as a list of forward-only migrations.
///
/// Migration N moves a database from `user_version` N-1 to N in one transaction. Never edit a
/// migration that has shipped: add the next one. `application_id` marks the file as Docket's,
/// so a foreign SQLite file is refused instead of being migrated into.
enum Schema {
    /// "DOCK" in ASCII.
    static let applicationID: Int64 = 0x444F_434B

    static let migrations: [String] = [
        // 1: jobs and their event history.
        """
        CREATE TABLE jobs (
            id                 INTEGER PRIMARY KEY,
            queue              TEXT    NOT NULL CHECK (length(queue) BETWEEN 1 AND 255),
            -- 'scheduled' is 'pending' whose run_at is still ahead; the wire shows both as
            -- 'pending'. Keeping them apart keeps delayed jobs out of the claim index.
            state              TEXT    NOT NULL
                               CHECK (state IN ('scheduled', 'pending', 'running', 'completed', 'failed', 'cancelled')),
            version            INTEGER NOT NULL CHECK (version >= 1),
            priority           INTEGER NOT NULL,
            payload            TEXT    NOT NULL,
            attempt            INTEGER NOT NULL CHECK (attempt >= 0),
            max_attempts       INTEGER NOT NULL CHECK (max_attempts >= 1),
            backoff_initial_ms INTEGER NOT NULL CHECK (backoff_initial_ms >= 0),
            backoff_max_ms     INTEGER NOT NULL CHECK (backoff_max_ms >= backoff_initial_ms),
            run_at             INTEGER NOT NULL,
            created_at         INTEGER NOT NULL,
            updated_at         INTEGER NOT NULL,
            lease_ms           INTEGER CHECK (lease_ms > 0),
            lease_expires_at   INTEGER,
            worker             TEXT,
            progress           TEXT,
            result             TEXT,
            last_error         TEXT,
            unique_key         TEXT,
            CHECK ((state = 'running') = (lease_expires_at IS NOT NULL))
        );
        CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
        -- The claim path: the best due job of a queue is the first entry of its range.
        CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, id) WHERE state = 'pending';
        -- The deadline timer: the next delayed job to promote, the next lease to expire.
        CREATE INDEX jobs_delayed ON jobs (run_at) WHERE state = 'scheduled';
        CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
        CREATE INDEX jobs_queue_state ON jobs (queue, state);

        CREATE TABLE events (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            at      INTEGER NOT NULL,
            job     INTEGER NOT NULL,
            queue   TEXT    NOT NULL,
            type    TEXT    NOT NULL CHECK (type IN ('enqueued', 'claimed', 'progress', 'completed', 'failed',
                                                     'retry_scheduled', 'lease_expired', 'cancelled', 'retried')),
            version INTEGER NOT NULL CHECK (version >= 1),
            state   TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
            data    TEXT,
            peer    TEXT
        );
        CREATE INDEX events_job ON events (job, seq);
        """,
        // 2: recurring schedules.
        """
        CREATE TABLE schedules (
            name         TEXT    PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
            cron         TEXT    NOT NULL,
            queue        TEXT    NOT NULL CHECK (length(queue) BETWEEN 1 AND 255),
            payload      TEXT    NOT NULL,
            priority     INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
            paused       INTEGER NOT NULL CHECK (paused IN (0, 1)),
            version      INTEGER NOT NULL CHECK (version >= 1),
            next_run_at  INTEGER NOT NULL,
            last_run_at  INTEGER,
            created_at   INTEGER NOT NULL,
            updated_at   INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- The deadline timer: the next slot of any active schedule.
        CREATE INDEX schedules_due ON schedules (next_run_at) WHERE paused = 0;
        """,
        // 3: retention — the oldest finished jobs first, without a scan.
        """
        CREATE INDEX jobs_finished ON jobs (state, updated_at) WHERE state IN ('completed', 'cancelled', 'failed');
        """,
        // 4: job ids are never reused, even after the newest jobs are pruned or purged: an old
        // (id, version) pair must never match a new job. SQLite cannot add AUTOINCREMENT to a
        // table, so the table is rebuilt; the copy keeps every id and seeds the counter.
        """
        CREATE TABLE jobs_v4 (
            id                 INTEGER PRIMARY KEY AUTOINCREMENT,
            queue              TEXT    NOT NULL CHECK (length(queue) BETWEEN 1 AND 255),
            state              TEXT    NOT NULL
                               CHECK (state IN ('scheduled', 'pending', 'running', 'completed', 'failed', 'cancelled')),
            version            INTEGER NOT NULL CHECK (version >= 1),
            priority           INTEGER NOT NULL,
            payload            TEXT    NOT NULL,
            attempt            INTEGER NOT NULL CHECK (attempt >= 0),
            max_attempts       INTEGER NOT NULL CHECK (max_attempts >= 1),
            backoff_initial_ms INTEGER NOT NULL CHECK (backoff_initial_ms >= 0),
            backoff_max_ms     INTEGER NOT NULL CHECK (backoff_max_ms >= backoff_initial_ms),
            run_at             INTEGER NOT NULL,
            created_at         INTEGER NOT NULL,
            updated_at         INTEGER NOT NULL,
            lease_ms           INTEGER CHECK (lease_ms > 0),
            lease_expires_at   INTEGER,
            worker             TEXT,
            progress           TEXT,
            result             TEXT,
            last_error         TEXT,
            unique_key         TEXT,
            CHECK ((state = 'running') = (lease_expires_at IS NOT NULL))
        );
        INSERT INTO jobs_v4 SELECT * FROM jobs;
        -- Ids of events whose jobs are gone (pruned) still count as used.
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'jobs_v4', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jobs_v4');
        UPDATE sqlite_sequence
            SET seq = max(seq, coalesce((SELECT max(id) FROM jobs), 0), coalesce((SELECT max(job) FROM events), 0))
            WHERE name = 'jobs_v4';
        DROP TABLE jobs;
        ALTER TABLE jobs_v4 RENAME TO jobs;
        CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
        CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, id) WHERE state = 'pending';
        CREATE INDEX jobs_delayed ON jobs (run_at) WHERE state = 'scheduled';
        CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
        CREATE INDEX jobs_queue_state ON jobs (queue, state);
        CREATE INDEX jobs_finished ON jobs (state, updated_at) WHERE state IN ('completed', 'cancelled', 'failed');
        """,
        // 5: the same constraints without `IN (…)` lists. SQLite evaluates an IN list of more
        // than two constants by building a temporary B-tree, afresh for every row written: the
        // state and type checks and the jobs_finished condition cost three of them per change,
        // about 40% of the SQLite work of an enqueue → claim → complete cycle. Chains of `=`
        // joined by OR say the same and cost a few comparisons. Table constraints cannot be
        // altered, so both tables are rebuilt, keeping every id, seq and counter.
        """
        CREATE TABLE jobs_v5 (
            id                 INTEGER PRIMARY KEY AUTOINCREMENT,
            queue              TEXT    NOT NULL CHECK (length(queue) BETWEEN 1 AND 255),
            state              TEXT    NOT NULL
                               CHECK (state = 'scheduled' OR state = 'pending' OR state = 'running'
                                      OR state = 'completed' OR state = 'failed' OR state = 'cancelled'),
            version            INTEGER NOT NULL CHECK (version >= 1),
            priority           INTEGER NOT NULL,
            payload            TEXT    NOT NULL,
            attempt            INTEGER NOT NULL CHECK (attempt >= 0),
            max_attempts       INTEGER NOT NULL CHECK (max_attempts >= 1),
            backoff_initial_ms INTEGER NOT NULL CHECK (backoff_initial_ms >= 0),
            backoff_max_ms     INTEGER NOT NULL CHECK (backoff_max_ms >= backoff_initial_ms),
            run_at             INTEGER NOT NULL,
            created_at         INTEGER NOT NULL,
            updated_at         INTEGER NOT NULL,
            lease_ms           INTEGER CHECK (lease_ms > 0),
            lease_expires_at   INTEGER,
            worker             TEXT,
            progress           TEXT,
            result             TEXT,
            last_error         TEXT,
            unique_key         TEXT,
            CHECK ((state = 'running') = (lease_expires_at IS NOT NULL))
        );
        INSERT INTO jobs_v5 SELECT * FROM jobs;
        CREATE TABLE events_v5 (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            at      INTEGER NOT NULL,
            job     INTEGER NOT NULL,
            queue   TEXT    NOT NULL,
            type    TEXT    NOT NULL
                    CHECK (type = 'enqueued' OR type = 'claimed' OR type = 'progress' OR type = 'completed'
                           OR type = 'failed' OR type = 'retry_scheduled' OR type = 'lease_expired'
                           OR type = 'cancelled' OR type = 'retried'),
            version INTEGER NOT NULL CHECK (version >= 1),
            state   TEXT    NOT NULL
                    CHECK (state = 'pending' OR state = 'running' OR state = 'completed' OR state = 'failed'
                           OR state = 'cancelled'),
            data    TEXT,
            peer    TEXT
        );
        INSERT INTO events_v5 SELECT * FROM events;
        -- The counters carry over, so an id or seq used before (and since pruned) stays used.
        INSERT OR REPLACE INTO sqlite_sequence (name, seq)
            SELECT 'jobs_v5', max(seq) FROM (SELECT seq FROM sqlite_sequence WHERE name = 'jobs'
                                            UNION ALL SELECT coalesce(max(id), 0) FROM jobs_v5);
        INSERT OR REPLACE INTO sqlite_sequence (name, seq)
            SELECT 'events_v5', max(seq) FROM (SELECT seq FROM sqlite_sequence WHERE name = 'events'
                                              UNION ALL SELECT coalesce(max(seq), 0) FROM events_v5);
        DROP TABLE jobs;
        DROP TABLE events;
        ALTER TABLE jobs_v5 RENAME TO jobs;
        ALTER TABLE events_v5 RENAME TO events;
        CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
        CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, id) WHERE state = 'pending';
        CREATE INDEX jobs_delayed ON jobs (run_at) WHERE state = 'scheduled';
        CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
        CREATE INDEX jobs_queue_state ON jobs (queue, state);
        CREATE INDEX jobs_finished ON jobs (state, updated_at)
            WHERE state = 'completed' OR state = 'cancelled' OR state = 'failed';
        CREATE INDEX events_job ON events (job, seq);
        """,
        // 6: queue settings (pause, limits) and what claims obey them. Running jobs are
        // counted by queue and key through jobs_running_keys (a handful of rows each); the
        // claims of the last rate window are kept in queue_claims and pruned as it moves.
        """
        ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
        CREATE INDEX jobs_running_keys ON jobs (queue, concurrency_key) WHERE state = 'running';
        CREATE TABLE queues (
            name                TEXT    PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
            paused              INTEGER NOT NULL CHECK (paused = 0 OR paused = 1),
            max_running         INTEGER CHECK (max_running >= 1),
            max_running_per_key INTEGER CHECK (max_running_per_key >= 1),
            rate_max            INTEGER CHECK (rate_max >= 1),
            rate_per_ms         INTEGER CHECK (rate_per_ms >= 1),
            version             INTEGER NOT NULL CHECK (version >= 1),
            CHECK ((rate_max IS NULL) = (rate_per_ms IS NULL))
        ) WITHOUT ROWID;
        CREATE TABLE queue_claims (
            queue TEXT    NOT NULL,
            at    INTEGER NOT NULL
        );
        CREATE INDEX queue_claims_recent ON queue_claims (queue, at);
        """,
        // 7: attempt timeouts, trace context, logs, dependencies (see SchemaVersion7.swift).
        SchemaVersion7.migration,
    ]

    static var latestVersion: Int64 { Int64(migrations.count) }
}
