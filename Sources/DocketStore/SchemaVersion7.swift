/// Migration 7 of the SQLite schema, long enough for a file of its own.
///
/// Both tables are rebuilt, as in migration 5, keeping every id, seq and counter: the state
/// check gains `blocked` (a `pending` job still waiting for its dependencies, kept out of the
/// claim index as `scheduled` jobs are) and the event type check the types of snooze,
/// timeouts, dependencies and logs; table constraints cannot be altered. The new columns:
/// - `timeout_ms`, and `attempt_deadline`, the running attempt's end, indexed for the
///   deadline timer like `lease_expires_at`;
/// - `traceparent`, `tracestate`;
/// - `log_bytes`, the size of the job's log events kept, and `log_dropped_bytes`, of those
///   dropped to stay under the cap;
/// - `after_ids` and `waiting_for`: the job's dependencies and those not completed yet, as
///   JSON arrays (NULL for none). `dependencies` holds one row per waiting edge, found from
///   the dependency's side when it ends.
enum SchemaVersion7 {
    static let migration = """
        CREATE TABLE jobs_v7 (
            id                 INTEGER PRIMARY KEY AUTOINCREMENT,
            queue              TEXT    NOT NULL CHECK (length(queue) BETWEEN 1 AND 255),
            state              TEXT    NOT NULL
                               CHECK (state = 'scheduled' OR state = 'blocked' OR state = 'pending' OR state = 'running'
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
            concurrency_key    TEXT,
            timeout_ms         INTEGER CHECK (timeout_ms >= 1),
            attempt_deadline   INTEGER,
            traceparent        TEXT,
            tracestate         TEXT,
            log_bytes          INTEGER NOT NULL DEFAULT 0,
            log_dropped_bytes  INTEGER NOT NULL DEFAULT 0,
            after_ids          TEXT,
            waiting_for        TEXT,
            CHECK ((state = 'running') = (lease_expires_at IS NOT NULL))
        );
        INSERT INTO jobs_v7 (id, queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms,
                             backoff_max_ms, run_at, created_at, updated_at, lease_ms, lease_expires_at, worker, progress,
                             result, last_error, unique_key, concurrency_key)
            SELECT id, queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms, backoff_max_ms,
                   run_at, created_at, updated_at, lease_ms, lease_expires_at, worker, progress, result, last_error, unique_key,
                   concurrency_key
            FROM jobs;
        CREATE TABLE events_v7 (
            seq     INTEGER PRIMARY KEY AUTOINCREMENT,
            at      INTEGER NOT NULL,
            job     INTEGER NOT NULL,
            queue   TEXT    NOT NULL,
            type    TEXT    NOT NULL
                    CHECK (type = 'enqueued' OR type = 'claimed' OR type = 'progress' OR type = 'completed'
                           OR type = 'failed' OR type = 'retry_scheduled' OR type = 'lease_expired'
                           OR type = 'cancelled' OR type = 'retried' OR type = 'snoozed' OR type = 'timed_out'
                           OR type = 'dependencies_met' OR type = 'log'),
            version INTEGER NOT NULL CHECK (version >= 1),
            state   TEXT    NOT NULL
                    CHECK (state = 'pending' OR state = 'running' OR state = 'completed' OR state = 'failed'
                           OR state = 'cancelled'),
            data    TEXT,
            peer    TEXT
        );
        INSERT INTO events_v7 SELECT * FROM events;
        -- The counters carry over, so an id or seq used before (and since pruned) stays used.
        INSERT OR REPLACE INTO sqlite_sequence (name, seq)
            SELECT 'jobs_v7', max(seq) FROM (SELECT seq FROM sqlite_sequence WHERE name = 'jobs'
                                            UNION ALL SELECT coalesce(max(id), 0) FROM jobs_v7);
        INSERT OR REPLACE INTO sqlite_sequence (name, seq)
            SELECT 'events_v7', max(seq) FROM (SELECT seq FROM sqlite_sequence WHERE name = 'events'
                                              UNION ALL SELECT coalesce(max(seq), 0) FROM events_v7);
        DROP TABLE jobs;
        DROP TABLE events;
        ALTER TABLE jobs_v7 RENAME TO jobs;
        ALTER TABLE events_v7 RENAME TO events;
        CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
        CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, id) WHERE state = 'pending';
        CREATE INDEX jobs_delayed ON jobs (run_at) WHERE state = 'scheduled';
        CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
        CREATE INDEX jobs_queue_state ON jobs (queue, state);
        CREATE INDEX jobs_finished ON jobs (state, updated_at)
            WHERE state = 'completed' OR state = 'cancelled' OR state = 'failed';
        CREATE INDEX jobs_running_keys ON jobs (queue, concurrency_key) WHERE state = 'running';
        CREATE INDEX jobs_attempt_deadlines ON jobs (attempt_deadline) WHERE state = 'running' AND attempt_deadline IS NOT NULL;
        CREATE INDEX events_job ON events (job, seq);
        CREATE TABLE dependencies (
            dependency INTEGER NOT NULL,
            job        INTEGER NOT NULL,
            PRIMARY KEY (dependency, job)
        ) WITHOUT ROWID;
        CREATE INDEX dependencies_job ON dependencies (job);
        """
}
