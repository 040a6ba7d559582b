#!/usr/bin/env python3
"""Claim throughput, memory and start-up time as the number of stored jobs grows.

For each size N it starts a fresh docketd, bulk-loads N pending jobs (`enqueue` with `jobs`
arrays of 1,000, one transaction each), optionally makes half of them high-priority but
not claimable (so they sit in front of the due jobs in priority order): delayed an hour, or
blocked waiting for a job that never completes, then measures
claim -> complete cycles over many connections, the daemon's resident memory with 1,000
connections open, and how long a restart takes until the socket answers.

    contrib/bench/scale.py --sizes 10000 1000000 --docketd .build/release/docketd

With --postgres URL (a server's maintenance database, e.g.
postgresql://postgres@/postgres?host=/tmp/pg&port=55432) each run gets a fresh database
`dkscale` on that server instead of a SQLite file.

With --release N it also measures a completion that releases N dependents in one
transaction: how long the complete takes, and the longest another connection's enqueue
waits meanwhile.
"""
import argparse, asyncio, json, os, shutil, signal, subprocess, tempfile, time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def wait_ready(sock, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("docketd exited")
        try:
            r, w = await asyncio.open_unix_connection(sock)
            w.write(b'{"op":"ping"}\n')
            await w.drain()
            if b'"ok":true' in await r.readline():
                w.close()
                return
        except OSError:
            pass
        await asyncio.sleep(0.01)
    raise SystemExit("docketd did not answer")


async def request(r, w, message):
    w.write((json.dumps(message) + "\n").encode())
    await w.drain()
    answer = json.loads(await r.readline())
    assert answer.get("ok"), answer
    return answer


async def load(sock, count, ahead):
    r, w = await asyncio.open_unix_connection(sock, limit=1 << 26)
    root = (await request(r, w, {"op": "enqueue", "queue": "root"}))["job"]["id"]
    sent = 0
    while sent < count:
        batch = []
        for index in range(sent, min(sent + 1000, count)):
            if ahead == "delayed" and index % 2 == 0:
                batch.append({"queue": "scale", "priority": -1, "delay_ms": 3_600_000})
            elif ahead == "blocked" and index % 2 == 0:
                batch.append({"queue": "scale", "priority": -1, "after": [root]})
            else:
                batch.append({"queue": "scale", "payload": {"n": index}})
        await request(r, w, {"op": "enqueue", "jobs": batch, "fields": []})
        sent += len(batch)
    w.close()


async def release(sock, dependents):
    """Seconds the complete of a job with `dependents` waiting takes, and the longest
    enqueue round trip on another connection meanwhile (it waits for the writer too)."""
    r, w = await asyncio.open_unix_connection(sock, limit=1 << 26)
    root = (await request(r, w, {"op": "enqueue", "queue": "fanout-root"}))["job"]["id"]
    for start in range(0, dependents, 1000):
        batch = [{"queue": "fanout", "after": [root]} for _ in range(start, min(start + 1000, dependents))]
        await request(r, w, {"op": "enqueue", "jobs": batch, "fields": []})
    job = (await request(r, w, {"op": "claim", "queue": "fanout-root"}))["job"]
    pr, pw = await asyncio.open_unix_connection(sock)
    longest = 0.0
    done = False

    async def pinger():
        nonlocal longest
        while not done:
            sent = time.monotonic()
            await request(pr, pw, {"op": "enqueue", "queue": "other", "fields": []})
            longest = max(longest, time.monotonic() - sent)

    pinging = asyncio.ensure_future(pinger())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await request(r, w, {"op": "complete", "job": job["id"], "version": job["version"], "fields": []})
    took = time.monotonic() - started
    done = True
    await pinging
    stats = await request(r, w, {"op": "stats"})
    assert stats["queues"]["fanout"].get("pending") == dependents, stats["queues"]["fanout"]
    w.close()
    pw.close()
    return took, longest


async def cycles(sock, connections, total):
    done = 0

    async def worker():
        nonlocal done
        r, w = await asyncio.open_unix_connection(sock, limit=1 << 22)
        while done < total:
            w.write(b'{"op":"claim","queue":"scale"}\n')
            await w.drain()
            job = json.loads(await r.readline()).get("job")
            if not job:
                return
            w.write(b'{"op":"complete","job":%d,"version":%d}\n' % (job["id"], job["version"]))
            await w.drain()
            await r.readline()
            done += 1
        w.close()

    started = time.monotonic()
    await asyncio.gather(*[worker() for _ in range(connections)])
    return done / (time.monotonic() - started)


async def hold_connections(sock, count):
    writers = []
    for _ in range(count):
        _, w = await asyncio.open_unix_connection(sock)
        writers.append(w)
    return writers


def run(args, size, ahead):
    folder = tempfile.mkdtemp(prefix="dkscale-", dir=args.dir)
    sock, db = os.path.join(folder, "d.sock"), os.path.join(folder, "d.db")
    if args.postgres:
        for sql in ("DROP DATABASE IF EXISTS dkscale WITH (FORCE)", "CREATE DATABASE dkscale"):
            subprocess.run(["psql", "-X", "-q", args.postgres, "-c", sql], check=True)
        base, _, query = args.postgres.partition("?")
        db = base.rsplit("/", 1)[0] + "/dkscale" + ("?" + query if query else "")
    command = [args.docketd, "--socket", sock, "--db", db]
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(wait_ready(sock, proc))
        started = time.monotonic()
        asyncio.run(load(sock, size, ahead))
        load_seconds = time.monotonic() - started
        rate = asyncio.run(cycles(sock, args.connections, args.cycles))

        async def memory():
            writers = await hold_connections(sock, 1000)
            await asyncio.sleep(0.5)
            value = rss_mib(proc.pid)
            for w in writers:
                w.close()
            return value
        rss = asyncio.run(memory())
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        asyncio.run(wait_ready(sock, proc))
        startup = time.monotonic() - started
        return load_seconds, rate, rss, startup
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--cycles", type=int, default=20_000, help="claim -> complete cycles measured per size")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--docketd", default=".build/release/docketd")
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--postgres", help="a PostgreSQL server's URL: measure Docket on PostgreSQL there")
    parser.add_argument("--ahead", nargs="+", default=["none", "delayed", "blocked"], choices=["none", "delayed", "blocked"],
                        help="what the unclaimable half is: nothing, delayed jobs, jobs waiting for a dependency")
    parser.add_argument("--release", type=int, help="also time a completion that releases this many dependents")
    args = parser.parse_args()
    print("| stored jobs | half ahead, not claimable | bulk load s | claim+complete cycles/s | RSS MiB, 1,000 connections | restart to ready s |")
    print("|---:|---|---:|---:|---:|---:|")
    for size in args.sizes:
        for ahead in args.ahead:
            load_seconds, rate, rss, startup = run(args, size, ahead)
            print(f"| {size:,} | {ahead} | {load_seconds:.1f} | {rate:,.0f} | {rss:.1f} | {startup:.2f} |", flush=True)
    if args.release:
        folder = tempfile.mkdtemp(prefix="dkscale-", dir=args.dir)
        sock = os.path.join(folder, "d.sock")
        proc = subprocess.Popen([args.docketd, "--socket", sock, "--db", os.path.join(folder, "d.db")], stderr=subprocess.DEVNULL)
        try:
            asyncio.run(wait_ready(sock, proc))
            took, longest = asyncio.run(release(sock, args.release))
            print(f"\ncompleting a job with {args.release:,} dependents: {took * 1000:.0f} ms; "
                  f"longest enqueue on another connection meanwhile {longest * 1000:.0f} ms")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
