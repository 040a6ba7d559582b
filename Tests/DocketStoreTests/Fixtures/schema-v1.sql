-- A database as Docket's schema version 1 left it (before schedules), with a few jobs and
-- events, to prove that later versions migrate it forward and keep everything.
PRAGMA application_id = 1146045259;
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
INSERT INTO jobs (id, queue, state, version, priority, payload, attempt, max_attempts, backoff_initial_ms, backoff_max_ms,
                  run_at, created_at, updated_at, lease_ms, lease_expires_at, worker, progress, result, last_error, unique_key)
VALUES (1, 'emails', 'completed', 4, 0, '{"to":"a@b"}', 1, 3, 1000, 3600000, 1795000000000, 1795000000000, 1795000001000,
        30000, NULL, 'agent-7', '{"pct":50}', '{"sent":true}', NULL, NULL),
       (2, 'emails', 'pending', 1, 5, 'null', 0, 3, 1000, 3600000, 1795000000000, 1795000000000, 1795000000000,
        NULL, NULL, NULL, NULL, NULL, NULL, 'welcome:a@b');
INSERT INTO events (seq, at, job, queue, type, version, state, data, peer) VALUES
  (1, 1795000000000, 1, 'emails', 'enqueued', 1, 'pending', NULL, '10@1000'),
  (2, 1795000000000, 2, 'emails', 'enqueued', 1, 'pending', NULL, '10@1000'),
  (3, 1795000000100, 1, 'emails', 'claimed', 2, 'running', '{"worker":"agent-7"}', '11@1000'),
  (4, 1795000000500, 1, 'emails', 'progress', 3, 'running', '{"pct":50}', '11@1000'),
  (5, 1795000001000, 1, 'emails', 'completed', 4, 'completed', '{"sent":true}', '11@1000');
PRAGMA user_version = 1;
