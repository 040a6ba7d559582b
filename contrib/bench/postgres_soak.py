#!/usr/bin/env python3
"""Bloat under sustained load: docketd on PostgreSQL for an hour (by default), with the
table and index sizes, live and dead rows and autovacuum runs of the hot tables sampled
every minute, printed as a Markdown table.

    contrib/bench/postgres_soak.py --minutes 60 --rate 300 --retain 2m

The load is `docket bench --rate R` (enqueue -> claim -> complete cycles at R per second)
with `--retain` short, so that completed jobs are pruned while it runs: every job row is
inserted, updated three times and deleted, and every event inserted and deleted, which is
what leaves dead rows behind. The sizes level off when autovacuum keeps up (the tables'
own settings, in Sources/DocketStore/Postgres/PostgresSchema.swift), and grow without end
when it does not. Uses a throwaway cluster of its own (postgres.py's), durable settings.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postgres import Cluster, binary, ping  # noqa: E402

SAMPLE = """
SELECT relname,
       pg_total_relation_size(relid) / 1024,
       pg_indexes_size(relid) / 1024,
       n_live_tup, n_dead_tup, autovacuum_count
FROM pg_stat_user_tables WHERE relname IN ('docket_jobs', 'docket_events') ORDER BY relname
"""
# Jobs enqueued and not yet completed: level when the daemon keeps up with the rate.
BACKLOG = "SELECT count(*) FROM docket_jobs WHERE state IN ('pending', 'running')"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=int, default=300, help="cycles per second")
    parser.add_argument("--retain", default="2m", help="docketd --retain: how long completed jobs are kept")
    parser.add_argument("--sample-seconds", type=float, default=60)
    parser.add_argument("--docketd", default=None)
    parser.add_argument("--docket", default=None)
    parser.add_argument("--port", type=int, default=55490)
    args = parser.parse_args()
    docketd, docket = binary(args.docketd, "docketd"), binary(args.docket, "docket")
    pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    root = tempfile.mkdtemp(prefix="dkpg-soak-")
    cluster = Cluster(f"/usr/lib/postgresql/{pgbin}/bin", args.port, root)
    daemon = bench = None
    try:
        cluster.start()
        cluster.create_db("soak")
        sock = os.path.join(root, "d.sock")
        daemon = subprocess.Popen([docketd, "--socket", sock, "--db", cluster.url("soak"), "--retain", args.retain],
                                  stderr=open(os.path.join(root, "docketd.log"), "w"))
        deadline = time.time() + 20
        while not ping(sock):
            if time.time() > deadline or daemon.poll() is not None:
                raise SystemExit(f"docketd did not start; see {root}/docketd.log")
            time.sleep(0.05)
        seconds = int(args.minutes * 60)
        bench = subprocess.Popen([docket, "--socket", sock, "bench", "--producers", "4", "--consumers", "4",
                                  "--rate", str(args.rate), "--duration", f"{seconds}s"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(f"`{' '.join(sys.argv)}`\n")
        print("| minute | table | total KiB | index KiB | live rows | dead rows | autovacuums | backlog |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        started = time.time()
        # A daemon that falls behind would drain its backlog for long after: stop on time.
        while bench.poll() is None and time.time() - started < seconds + args.sample_seconds:
            time.sleep(args.sample_seconds)
            minute = (time.time() - started) / 60
            backlog = int(cluster.psql(BACKLOG, db="soak").strip())
            for line in cluster.psql(SAMPLE, db="soak").splitlines():
                name, total, index, live, dead, vacuums = line.split("|")
                print(f"| {minute:.0f} | {name} | {int(total):,} | {int(index):,} | {int(live):,} | {int(dead):,} | {vacuums} | {backlog:,} |",
                      flush=True)
        if bench.poll() is None:
            bench.terminate()
            print("\nThe bench was stopped with work still queued: the daemon fell behind the rate.")
        else:
            print("\n```\n" + bench.stdout.read().strip() + "\n```")
    finally:
        for process in (bench, daemon):
            if process and process.poll() is None:
                process.terminate()
                process.wait()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
