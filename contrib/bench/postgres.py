#!/usr/bin/env python3
"""Docket on PostgreSQL (one, two and three docketd on one database) against the PostgreSQL
job-queue peers and against Docket on SQLite, in one run, and prints a Markdown table.

Every server is durable: the script starts a throwaway PostgreSQL cluster of its own (initdb,
default settings, so fsync=on and synchronous_commit=on; only max_connections is raised, to
200, so 32+32 clients of a peer fit), and docketd on SQLite runs with its default --sync full.

The workload is compare.py's: P producers enqueue small jobs (64-byte payloads), C consumers
claim and complete them, every request waiting for its answer, each client on its own
connection. Producers stop after --seconds; consumers then finish what was enqueued, and
cycles/s is completed enqueue -> claim -> complete cycles over the whole time, drain included
(as `docket bench --duration` counts them). Each run gets a fresh database (a fresh SQLite
file), and a CHECKPOINT before it starts, so a checkpoint owed by the previous run does not
land in the next one.

The rows:
  docket-pg-1, -2, -3  docketd on one PostgreSQL database, N daemons each on its own socket.
                       The generator is split over them: one `docket bench` per daemon, all
                       started at once, producers and consumers divided as evenly as they go
                       (8 over 3: 3+3, 3+3, 2+2), and their cycles/s summed. Each bench uses
                       its own queue (bench-0, bench-1, ...) because `docket bench` counts its
                       drain by the jobs it enqueued itself; the daemons still share the one
                       jobs table, index, event log and event counter.
  docket-sqlite        one docketd on a SQLite file, one `docket bench`.
  skiplocked           the plain PostgreSQL queue: a Python asyncio worker (psycopg 3, one
                       autocommit connection per client, statements prepared). A table
                       jobs(id bigserial, queue, state, payload jsonb, created_at, updated_at)
                       with an index on (queue, id) WHERE state = 'pending'. A producer runs
                       one INSERT per transaction; a consumer claims with
                         UPDATE jobs SET state = 'running' WHERE id = (SELECT id FROM jobs
                           WHERE queue = $1 AND state = 'pending' ORDER BY id LIMIT 1
                           FOR UPDATE SKIP LOCKED) RETURNING id
                       in one transaction and completes with UPDATE ... SET state = 'completed'
                       in another (completed rows stay, as Docket keeps completed jobs): one
                       transaction per request, like Docket's enqueue / claim / complete. On an
                       empty queue a consumer sleeps 1 ms and polls again (no LISTEN/NOTIFY).
  pgqueuer             pgqueuer (PyPI) over asyncpg (its own primary driver; psycopg if asyncpg
                       is missing), schema installed by Queries.install() (durable: all tables
                       logged, its NOTIFY trigger on the queue table). P producers each call
                       Queries.enqueue(entrypoint, payload) on their own connection, one job
                       per call and transaction. C consumers are C QueueManagers, each on its own
                       connection, with a no-op async entrypoint, run with pgqueuer's defaults
                       (batch_size 10: a dequeue may pick up to 10 jobs; completions go through
                       its JobStatusLogBuffer, which writes them in batches of up to batch_size
                       or every 0.1 s). That is how pgqueuer is meant to be run, and batching
                       only helps it; --pgqueuer-batch 1 makes each consumer take one job at a
                       time. Cycles are jobs whose entrypoint ran; the run ends when every
                       enqueued job has run and every manager has shut down (flushing its
                       buffered completions).

The peers' generators are Python, so they spend more CPU per cycle than `docket bench`; with
--peer-processes N (default: the number of cores) a peer's clients are split over N worker
processes (own queue / entrypoint each, like the docket benches), so a single Python process
is not what caps a peer. The "generator CPU" column shows what the clients cost.

CPU per cycle is measured over each run from /proc: docketd is the sum over the run's docketd
processes; postgres is the whole cluster (the postmaster, its live children, and the CPU of
children that exited during the run, from the postmaster's cutime/cstime); the generator is
the bench or worker processes' rusage. Runs are interleaved (run 1 of every server, then run 2,
...), so a machine that speeds up or slows down favours none of them; medians are reported.

Commits and WAL flushes per cycle are the cluster's own counts over each run (the sum of
pg_stat_database.xact_commit, and pg_stat_wal.wal_sync): a plain worker commits once per
request, but PostgreSQL flushes the WAL once for all the commits waiting at that moment, so
its flushes per cycle show how much its own group commit already saves it.

    contrib/bench/postgres.py                                  # everything, 10 s x 3 runs
    contrib/bench/postgres.py --quick                          # a smoke run: every row, 2 s, 1 run
    contrib/bench/postgres.py --only docket-pg-1 skiplocked --clients 8 --seconds 5

Needs: PostgreSQL's server binaries (apt-get install postgresql), root or the postgres user
(as root the cluster runs as postgres via runuser), and for the peers
`python3 -m pip install "psycopg[binary]" pgqueuer asyncpg`.
"""
import argparse, asyncio, glob, json, os, shlex, shutil, signal, socket, subprocess, sys, tempfile, time

TICKS = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAYLOAD = "x" * 64


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS


def split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def ping(sock_path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(sock_path)
            s.sendall(b'{"op":"ping"}\n')
            return b'"ok":true' in s.recv(4096)
    except OSError:
        return False


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Failed(Exception):
    pass


# --- The PostgreSQL cluster ------------------------------------------------------------------

class Cluster:
    def __init__(self, pgbin, port, root):
        self.pgbin, self.port, self.root = pgbin, port, root
        self.data = os.path.join(root, "data")
        self.sockdir = os.path.join(root, "sock")
        self.log = os.path.join(root, "postgres.log")
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    def start(self):
        os.chmod(self.root, 0o755)
        os.makedirs(self.sockdir)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockdir, "postgres")
        subprocess.run(self.as_postgres + [f"{self.pgbin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres"],
                       check=True, stdout=subprocess.DEVNULL)
        options = f"-p {self.port} -k {self.sockdir} -c listen_addresses='' -c max_connections=200"
        subprocess.run(self.as_postgres + [f"{self.pgbin}/pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self.started = True

    def stop(self):
        if self.started:
            subprocess.run(self.as_postgres + [f"{self.pgbin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started = False

    def psql(self, sql, db="postgres"):
        done = subprocess.run([f"{self.pgbin}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir, "-p", str(self.port),
                               "-U", "postgres", "-d", db, "-At", "-c", sql], capture_output=True, text=True)
        if done.returncode != 0:
            raise Failed(f"psql {sql!r}: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_db(self, name):
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name}")

    def drop_db(self, name):
        try:
            self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Failed:
            pass

    def url(self, db):
        return f"postgresql://postgres@/{db}?host={self.sockdir}&port={self.port}"

    def dsn(self, db):
        return f"host={self.sockdir} port={self.port} user=postgres dbname={db}"

    def version(self):
        return self.psql("SHOW server_version")

    def commits_and_flushes(self):
        """Transactions committed in every database so far, and WAL flushes (fsyncs of the WAL,
        however many commits each covered). Backends report both when they exit, so the count
        after a run is taken once its connections have closed (the pause lets the last of them
        report), and before its database is dropped, which takes that database's row with it."""
        time.sleep(0.3)
        commits, flushes = self.psql("SELECT (SELECT sum(xact_commit) FROM pg_stat_database)::int8, wal_sync FROM pg_stat_wal").split("|")
        return int(commits), int(flushes)

    def cpu(self):
        """CPU seconds of the whole cluster so far: the postmaster, its live children, and its
        reaped children (cutime/cstime)."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            master = int(f.readline())
        fields = stat_fields(master)
        total = sum(int(fields[i]) for i in (11, 12, 13, 14))
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == master:
                continue
            try:
                fields = stat_fields(entry)
            except OSError:
                continue
            if int(fields[1]) == master:
                total += int(fields[11]) + int(fields[12])
        return total / TICKS


def per_cycle_commits(before, after, cycles):
    """Commits and WAL flushes per cycle: PostgreSQL's own group commit shows as fewer flushes
    than commits when concurrent transactions share one fsync."""
    return {"commits": (after[0] - before[0]) / max(cycles, 1), "flushes": (after[1] - before[1]) / max(cycles, 1)}


# --- Generators: run to the end and read their rusage ----------------------------------------

def run_generators(commands, folder, timeout, env=None):
    """Starts every command at once, waits for all, and returns [(stdout text, cpu seconds)]."""
    procs = []
    for index, command in enumerate(commands):
        out = open(os.path.join(folder, f"gen-{index}.out"), "w+")
        err_path = os.path.join(folder, f"gen-{index}.err")
        procs.append((subprocess.Popen(command, stdout=out, stderr=open(err_path, "w"), env=env), out, err_path))
    deadline = time.monotonic() + timeout
    results, failure = [], None
    try:
        for proc, out, err_path in procs:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    raise Failed(f"{shlex.join(proc.args)} ran past {timeout:.0f} s\n{tail(err_path)}")
                time.sleep(0.02)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read()
            if proc.returncode != 0 and failure is None:
                failure = f"{shlex.join(proc.args)} exited {proc.returncode}\n{tail(err_path)}{text[-2000:]}"
            results.append((text, usage.ru_utime + usage.ru_stime))
    finally:
        for proc, out, _ in procs:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
            out.close()
    if failure:
        raise Failed(failure)
    return results


def last_json(text, key):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            value = json.loads(line)
            if key in value:
                return value
    raise Failed(f"no JSON with {key!r} in:\n{text[-2000:]}")


# --- The servers -----------------------------------------------------------------------------

class Docket:
    """N docketd on one fresh PostgreSQL database, or one on a SQLite file; `docket bench` each."""

    def __init__(self, args, cluster, daemons, postgres):
        self.args, self.cluster, self.daemons, self.postgres = args, cluster, daemons, postgres
        if postgres:
            self.name = f"Docket on PostgreSQL, {daemons} docketd" + ("s" if daemons > 1 else "")
        else:
            self.name = "Docket on SQLite (--sync full)"

    def measure(self, clients, seconds, folder, run_id):
        db = f"docket_{run_id}"
        procs = []
        try:
            if self.postgres:
                self.cluster.create_db(db)
                target = self.cluster.url(db)
            else:
                target = os.path.join(folder, "docket.db")
            socks = []
            for index in range(self.daemons):
                sock = os.path.join(folder, f"d{index}.sock")
                log = os.path.join(folder, f"docketd-{index}.log")
                proc = subprocess.Popen([self.args.docketd, "--socket", sock, "--db", target, "--log-level", "warning"],
                                        stdout=subprocess.DEVNULL, stderr=open(log, "w"))
                procs.append(proc)
                # One at a time: the first creates the schema.
                deadline = time.monotonic() + 60
                while not ping(sock):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise Failed(f"docketd {index} did not start:\n{tail(log)}")
                    time.sleep(0.02)
                socks.append(sock)
            if self.postgres:
                self.cluster.psql("CHECKPOINT")
                counted_before = self.cluster.commits_and_flushes()
            commands = [[self.args.docket, "--socket", sock, "bench", "--producers", str(p), "--consumers", str(c),
                         "--duration", f"{round(seconds * 1000)}ms", "--queue", f"bench-{index}", "--json"]
                        for index, (sock, p, c) in enumerate(zip(socks, split(clients, self.daemons), split(clients, self.daemons)))]
            docketd_before = sum(cpu_seconds(p.pid) for p in procs)
            pg_before = self.cluster.cpu() if self.postgres else 0.0
            try:
                results = run_generators(commands, folder, timeout=seconds * 4 + 60)
            except Failed as error:
                logs = "".join(f"docketd {i}: {tail(os.path.join(folder, f'docketd-{i}.log'), 8)}" for i in range(len(procs)))
                raise Failed(f"{error}\n{logs}") from None
            time.sleep(0.1)
            docketd_cpu = sum(cpu_seconds(p.pid) for p in procs) - docketd_before
            pg_cpu = self.cluster.cpu() - pg_before if self.postgres else None
            reports = [last_json(text, "cycles_per_second") for text, _ in results]
            cycles = sum(r["cycles"] for r in reports)
            rate = sum(r["cycles_per_second"] for r in reports)
            generator_cpu = sum(cpu for _, cpu in results)
            for index, proc in enumerate(procs):
                if proc.poll() is not None:
                    raise Failed(f"docketd {index} exited during the run:\n{tail(os.path.join(folder, f'docketd-{index}.log'))}")
            per = lambda cpu: None if cpu is None else cpu / max(cycles, 1) * 1e6
            outcome = {"rate": rate, "docketd": per(docketd_cpu), "postgres": per(pg_cpu), "generator": per(generator_cpu),
                       "elapsed": max(r["elapsed_ms"] for r in reports) / 1000, "cycles": cycles}
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self.postgres:
                counted_after = self.cluster.commits_and_flushes()
                self.cluster.drop_db(db)
        if self.postgres:
            outcome.update(per_cycle_commits(counted_before, counted_after, outcome["cycles"]))
        return outcome


SKIPLOCKED_SCHEMA = """
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    payload jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_pending ON jobs (queue, id) WHERE state = 'pending';
"""


class Peer:
    """A Python peer: `postgres.py --peer-worker KIND` processes against a fresh database."""

    def __init__(self, args, cluster, kind):
        self.args, self.cluster, self.kind = args, cluster, kind
        self.name = {"skiplocked": "PostgreSQL: plain FOR UPDATE SKIP LOCKED (psycopg)",
                     "pgqueuer": "PostgreSQL: pgqueuer"}[kind]

    def worker(self, db, *more):
        return [sys.executable, os.path.abspath(__file__), "--peer-worker", self.kind, "--dsn", self.cluster.dsn(db),
                "--pgqueuer-batch", str(self.args.pgqueuer_batch), *more]

    def measure(self, clients, seconds, folder, run_id):
        db = f"{self.kind}_{run_id}"
        try:
            self.cluster.create_db(db)
            if self.kind == "skiplocked":
                self.cluster.psql(SKIPLOCKED_SCHEMA, db)
            else:
                run_generators([self.worker(db, "--install")], folder, timeout=120)
            self.cluster.psql("CHECKPOINT")
            counted_before = self.cluster.commits_and_flushes()
            processes = max(1, min(self.args.peer_processes, clients))
            commands = [self.worker(db, "--queue", f"bench-{index}", "--producers", str(p), "--consumers", str(c),
                                    "--seconds", str(seconds))
                        for index, (p, c) in enumerate(zip(split(clients, processes), split(clients, processes)))]
            pg_before = self.cluster.cpu()
            results = run_generators(commands, folder, timeout=seconds * 4 + 60)
            time.sleep(0.2)
            pg_cpu = self.cluster.cpu() - pg_before
            reports = [last_json(text, "cycles") for text, _ in results]
            cycles = sum(r["cycles"] for r in reports)
            rate = sum(r["cycles"] / r["elapsed"] for r in reports)
            generator_cpu = sum(cpu for _, cpu in results)
            outcome = {"rate": rate, "docketd": None, "postgres": pg_cpu / max(cycles, 1) * 1e6,
                       "generator": generator_cpu / max(cycles, 1) * 1e6, "elapsed": max(r["elapsed"] for r in reports)}
            outcome.update(per_cycle_commits(counted_before, self.cluster.commits_and_flushes(), cycles))
            return outcome
        finally:
            self.cluster.drop_db(db)


# --- The peers' worker processes -------------------------------------------------------------

def new_event_loop_policy():
    try:
        import uvloop
        return uvloop.EventLoopPolicy()
    except ImportError:
        return None


async def skiplocked_worker(a):
    import psycopg
    insert = "INSERT INTO jobs (queue, payload) VALUES (%s, %s::jsonb)"
    claim = ("UPDATE jobs SET state = 'running', updated_at = now() WHERE id = ("
             "SELECT id FROM jobs WHERE queue = %s AND state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
             ") RETURNING id")
    complete = "UPDATE jobs SET state = 'completed', updated_at = now() WHERE id = %s AND state = 'running'"
    payload = json.dumps(PAYLOAD)
    producers = [await psycopg.AsyncConnection.connect(a.dsn, autocommit=True) for _ in range(a.producers)]
    consumers = [await psycopg.AsyncConnection.connect(a.dsn, autocommit=True) for _ in range(a.consumers)]
    counts = {"enqueued": 0, "completed": 0, "producers_done": 0}
    deadline = time.monotonic() + a.seconds

    async def produce(conn):
        while time.monotonic() < deadline:
            await conn.execute(insert, (a.queue, payload), prepare=True)
            counts["enqueued"] += 1
        counts["producers_done"] += 1

    async def consume(conn):
        while True:
            row = await (await conn.execute(claim, (a.queue,), prepare=True)).fetchone()
            if row is None:
                if counts["producers_done"] == a.producers and counts["completed"] == counts["enqueued"]:
                    return
                await asyncio.sleep(0.001)
                continue
            await conn.execute(complete, (row[0],), prepare=True)
            counts["completed"] += 1

    started = time.monotonic()
    await asyncio.gather(*map(produce, producers), *map(consume, consumers))
    elapsed = time.monotonic() - started
    for conn in producers + consumers:
        await conn.close()
    return {"cycles": counts["completed"], "elapsed": elapsed}


async def pgqueuer_connect(dsn):
    """A pgqueuer driver on a connection of its own: asyncpg if installed, else psycopg."""
    from pgqueuer.db import AsyncpgDriver, PsycopgDriver
    try:
        import asyncpg
    except ImportError:
        import psycopg
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        return PsycopgDriver(conn), conn.close
    params = dict(part.split("=", 1) for part in dsn.split())
    conn = await asyncpg.connect(host=params["host"], port=int(params["port"]), user=params["user"], database=params["dbname"])
    return AsyncpgDriver(conn), conn.close


async def pgqueuer_install(a):
    from pgqueuer.queries import Queries
    driver, close = await pgqueuer_connect(a.dsn)
    await Queries(driver).install()
    await close()
    return {"installed": True}


async def pgqueuer_worker(a):
    import logging
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries
    logging.getLogger("pgqueuer").setLevel(logging.WARNING)
    payload = PAYLOAD.encode()
    producers = [await pgqueuer_connect(a.dsn) for _ in range(a.producers)]
    consumers = [await pgqueuer_connect(a.dsn) for _ in range(a.consumers)]
    counts = {"enqueued": 0, "ran": 0, "producers_done": 0}
    managers = []
    all_ran = asyncio.Event()

    def check():
        if counts["producers_done"] == a.producers and counts["ran"] >= counts["enqueued"]:
            all_ran.set()

    for driver, _ in consumers:
        manager = QueueManager(Queries(driver))

        @manager.entrypoint(a.queue)
        async def noop(job):
            counts["ran"] += 1
            check()
        managers.append(manager)
    runs = [asyncio.create_task(m.run(batch_size=a.pgqueuer_batch)) for m in managers]
    await asyncio.sleep(0.5)  # past verify_structure and LISTEN
    for task in runs:
        if task.done():
            task.result()
    deadline = time.monotonic() + a.seconds

    async def produce(driver):
        queries = Queries(driver)
        while time.monotonic() < deadline:
            await queries.enqueue(a.queue, payload)
            counts["enqueued"] += 1
        counts["producers_done"] += 1
        check()

    started = time.monotonic()
    await asyncio.gather(*(produce(driver) for driver, _ in producers))
    await all_ran.wait()
    for manager in managers:
        manager.shutdown.set()
    await asyncio.gather(*runs)
    elapsed = time.monotonic() - started
    for _, close in producers + consumers:
        await close()
    return {"cycles": counts["ran"], "enqueued": counts["enqueued"], "elapsed": elapsed}


def peer_worker_main(a):
    policy = new_event_loop_policy()
    if policy:
        asyncio.set_event_loop_policy(policy)
    if a.peer_worker == "skiplocked":
        result = asyncio.run(skiplocked_worker(a))
    elif a.install:
        result = asyncio.run(pgqueuer_install(a))
    else:
        result = asyncio.run(pgqueuer_worker(a))
    print(json.dumps(result), flush=True)


# --- Main ------------------------------------------------------------------------------------

def binary(given, name):
    if given:
        return given
    for flavour in ("release", "debug"):
        path = os.path.join(REPO, ".build", flavour, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"no {name} in {REPO}/.build/release or .build/debug: build it or pass --{name}")


def fmt(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    keys = ["docket-pg-1", "docket-pg-2", "docket-pg-3", "docket-sqlite", "skiplocked", "pgqueuer"]
    parser.add_argument("--seconds", type=float, help="producers enqueue for this long each run (default 10; 2 with --quick)")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32], help="producers and consumers each (default: 8 32)")
    parser.add_argument("--runs", type=int, help="runs per cell, interleaved; the median is reported (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --seconds 2 --runs 1 unless given")
    parser.add_argument("--only", choices=keys, nargs="+", help="these rows only")
    parser.add_argument("--docketd", help="default: .build/release/docketd, else .build/debug/docketd")
    parser.add_argument("--docket", help="the docket CLI (for docket bench); default: .build/release/docket, else .build/debug")
    parser.add_argument("--pgbin", help="PostgreSQL's bin folder (default: the newest /usr/lib/postgresql/*/bin)")
    parser.add_argument("--port", type=int, default=55439, help="the throwaway cluster's port (its socket's name; default 55439)")
    parser.add_argument("--peer-processes", type=int, default=os.cpu_count() or 1,
                        help="worker processes a Python peer's clients are split over (default: the number of cores)")
    parser.add_argument("--pgqueuer-batch", type=int, default=10, help="pgqueuer's QueueManager batch_size (default 10, its own)")
    # The peers' worker processes (internal).
    parser.add_argument("--peer-worker", choices=["skiplocked", "pgqueuer"], help=argparse.SUPPRESS)
    parser.add_argument("--install", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--queue", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--producers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--consumers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        return peer_worker_main(args)

    args.seconds = args.seconds if args.seconds is not None else (2 if args.quick else 10)
    args.runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    chosen = [key for key in keys if not args.only or key in args.only]
    if any(k.startswith("docket") for k in chosen):
        args.docketd, args.docket = binary(args.docketd, "docketd"), binary(args.docket, "docket")
    missing = []
    if "skiplocked" in chosen:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing.append('"psycopg[binary]"')
    if "pgqueuer" in chosen:
        try:
            import pgqueuer  # noqa: F401
        except ImportError:
            missing.append("pgqueuer asyncpg")
    if missing:
        raise SystemExit(f"missing Python packages: python3 -m pip install {' '.join(missing)}")
    if not args.pgbin:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not found:
            raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql, or pass --pgbin")
        args.pgbin = found[-1]

    print("`" + shlex.join([sys.argv[0]] + sys.argv[1:]) + "`", flush=True)
    root = tempfile.mkdtemp(prefix="dkpg-", dir="/tmp")
    cluster = Cluster(args.pgbin, args.port, root)

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        cluster.start()
        print(f"\nPostgreSQL {cluster.version()} (fsync {cluster.psql('SHOW fsync')}, synchronous_commit "
              f"{cluster.psql('SHOW synchronous_commit')}), {os.cpu_count()} cores, {args.seconds:g} s x {args.runs} runs, "
              f"docketd {args.docketd or '—'}, peers' generators in {args.peer_processes} process(es)\n", flush=True)
        makers = {
            "docket-pg-1": lambda: Docket(args, cluster, 1, True),
            "docket-pg-2": lambda: Docket(args, cluster, 2, True),
            "docket-pg-3": lambda: Docket(args, cluster, 3, True),
            "docket-sqlite": lambda: Docket(args, cluster, 1, False),
            "skiplocked": lambda: Peer(args, cluster, "skiplocked"),
            "pgqueuer": lambda: Peer(args, cluster, "pgqueuer"),
        }
        servers = {key: makers[key]() for key in chosen}
        results = {(key, clients): [] for key in chosen for clients in args.clients}
        errors = []
        run_id = 0
        for clients in args.clients:
            for run in range(args.runs):
                for key in chosen:
                    run_id += 1
                    folder = tempfile.mkdtemp(prefix="dkpg-run-", dir="/tmp")
                    started = time.monotonic()
                    try:
                        outcome = servers[key].measure(clients, args.seconds, folder, run_id)
                        results[(key, clients)].append(outcome)
                        print(f"  {key} {clients}+{clients} run {run + 1}: {outcome['rate']:,.0f} cycles/s over "
                              f"{outcome['elapsed']:.1f} s, drain included ({time.monotonic() - started:.0f} s in all)",
                              file=sys.stderr, flush=True)
                    except Failed as error:
                        errors.append(f"{key} {clients}+{clients} run {run + 1}: {error}")
                        print(f"  {key} {clients}+{clients} run {run + 1}: FAILED {error}", file=sys.stderr, flush=True)
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    medians = {}
    for key in chosen:
        for clients in args.clients:
            runs = results[(key, clients)]
            if runs:
                medians[(key, clients)] = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
    peers = [k for k in chosen if k in ("skiplocked", "pgqueuer")]
    best = {}
    for clients in args.clients:
        rated = [(medians[(k, clients)]["rate"], k) for k in peers if (k, clients) in medians]
        if rated:
            best[clients] = max(rated)
    print("| server | clients | cycles/s (runs) | median | docketd CPU µs/cycle | postgres CPU µs/cycle | generator CPU µs/cycle "
          "| commits/cycle | WAL flushes/cycle | × best PostgreSQL peer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in chosen:
        for clients in args.clients:
            runs = results[(key, clients)]
            if not runs:
                print(f"| {servers[key].name} | {clients}+{clients} | failed | — | — | — | — | — | — | — |")
                continue
            m = medians[(key, clients)]
            each = " · ".join(f"{r['rate']:,.0f}" for r in runs)
            ratio = f"{m['rate'] / best[clients][0]:.2f}×" if key.startswith("docket") and clients in best else "—"
            print(f"| {servers[key].name} | {clients}+{clients} | {each} | {m['rate']:,.0f} | {fmt(m['docketd'])} | "
                  f"{fmt(m['postgres'])} | {fmt(m['generator'])} | {fmt(m.get('commits'), 2)} | {fmt(m.get('flushes'), 2)} | {ratio} |",
                  flush=True)
    for clients in args.clients:
        if clients not in best:
            continue
        rate, key = best[clients]
        ours = [f"{n} docketd {medians[(f'docket-pg-{n}', clients)]['rate'] / rate:.2f}×"
                for n in (1, 2, 3) if (f"docket-pg-{n}", clients) in medians]
        print(f"\n{clients}+{clients}: best PostgreSQL peer {servers[key].name} at {rate:,.0f} cycles/s"
              + (f"; Docket on PostgreSQL: {', '.join(ours)}" if ours else ""))
    if errors:
        print("\nFailures:\n" + "\n".join(errors))
        sys.exit(1)


if __name__ == "__main__":
    main()
