#!/usr/bin/env python3
"""Runs the same job-queue workload against docketd, beanstalkd and Redis, and prints a table.

The workload: P producers enqueue small jobs, C consumers claim (reserve / BLMOVE) and
complete (delete / LREM) them, every request waiting for its answer, each client on its own
Unix-socket connection, all in one asyncio process. Reported: completed enqueue -> claim ->
complete cycles per second, and the server's CPU time per cycle (from /proc/PID/stat).

    contrib/bench/compare.py --seconds 10 --clients 32            # all three
    contrib/bench/compare.py --only docket --docketd .build/release/docketd

The generator is one Python process; past roughly 15,000 cycles/s it is the bottleneck, so
use `docket bench` (Swift, many connections) to find docketd's own limit.
"""
import argparse, asyncio, os, shutil, signal, subprocess, sys, tempfile, time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def wait_for_socket(path, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            _, w = await asyncio.open_unix_connection(path)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"nothing answers on {path}")


class Docket:
    name = "docketd (synchronous=FULL)"

    def __init__(self, args, folder):
        self.sock = os.path.join(folder, "d.sock")
        self.proc = subprocess.Popen([args.docketd, "--socket", self.sock, "--db", os.path.join(folder, "d.db")],
                                     stderr=subprocess.DEVNULL)

    async def connect(self):
        r, w = await asyncio.open_unix_connection(self.sock, limit=1 << 22)

        async def call(line):
            w.write(line)
            await w.drain()
            return await r.readline()
        return call

    async def produce(self, call):
        await call(b'{"op":"enqueue","queue":"bench","payload":{"n":1}}\n')

    async def consume(self, call):
        import json
        answer = json.loads(await call(b'{"op":"claim","queue":"bench","wait_ms":1000}\n'))
        job = answer.get("job")
        if not job:
            return False
        done = json.loads(await call(b'{"op":"complete","job":%d,"version":%d}\n' % (job["id"], job["version"])))
        return done.get("ok", False)


class Beanstalk:
    def __init__(self, args, folder, durable):
        self.sock = os.path.join(folder, "b.sock")
        self.name = "beanstalkd -b -f0 (fsync every write)" if durable else "beanstalkd (no durability)"
        command = ["beanstalkd", "-l", "unix:" + self.sock]
        if durable:
            command += ["-b", folder, "-f0"]
        self.proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)

    async def connect(self):
        r, w = await asyncio.open_unix_connection(self.sock)

        async def call(line, body=False):
            w.write(line)
            await w.drain()
            head = await r.readline()
            if body and head.startswith(b"RESERVED"):
                size = int(head.split()[2])
                await r.readexactly(size + 2)
            return head
        return call

    async def produce(self, call):
        await call(b"put 0 0 60 9\r\n{\"n\":1}xx\r\n")

    async def consume(self, call):
        head = await call(b"reserve-with-timeout 1\r\n", body=True)
        if not head.startswith(b"RESERVED"):
            return False
        return (await call(b"delete %s\r\n" % head.split()[1])).startswith(b"DELETED")


class Redis:
    name = "redis appendfsync always (LPUSH/BLMOVE/LREM)"

    def __init__(self, args, folder):
        self.sock = os.path.join(folder, "r.sock")
        self.proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", self.sock, "--dir", folder,
                                      "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                     stdout=subprocess.DEVNULL)

    async def connect(self):
        r, w = await asyncio.open_unix_connection(self.sock)

        async def call(*parts):
            w.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
            await w.drain()
            head = await r.readline()
            if head.startswith(b"$") and head != b"$-1\r\n":
                return await r.readexactly(int(head[1:]) + 2)
            return head
        return call

    async def produce(self, call):
        await call(b"LPUSH", b"bench", b'{"n":1,"id":%d}' % time.monotonic_ns())

    async def consume(self, call):
        job = await call(b"BLMOVE", b"bench", b"bench:processing", b"RIGHT", b"LEFT", b"1")
        if job.startswith(b"$-1") or job.startswith(b"*-1"):
            return False
        return (await call(b"LREM", b"bench:processing", b"1", job[:-2])).startswith(b":1")


async def measure(server, clients, seconds):
    await wait_for_socket(server.sock)
    stop = time.monotonic() + seconds
    cycles = 0

    async def producer():
        call = await server.connect()
        while time.monotonic() < stop:
            await server.produce(call)

    async def consumer():
        nonlocal cycles
        call = await server.connect()
        while time.monotonic() < stop:
            if await server.consume(call):
                cycles += 1

    cpu_before = cpu_seconds(server.proc.pid)
    started = time.monotonic()
    await asyncio.gather(*[producer() for _ in range(clients)], *[consumer() for _ in range(clients)])
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    return cycles / elapsed, cpu / max(cycles, 1) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32],
                        help="producers and consumers each (default: 8 32)")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--docketd", default=".build/release/docketd")
    parser.add_argument("--only", choices=["docket", "beanstalkd", "beanstalkd-f0", "redis"], nargs="+")
    args = parser.parse_args()
    makers = {
        "docket": lambda folder: Docket(args, folder),
        "beanstalkd-f0": lambda folder: Beanstalk(args, folder, durable=True),
        "redis": lambda folder: Redis(args, folder),
        "beanstalkd": lambda folder: Beanstalk(args, folder, durable=False),
    }
    print(f"| server | clients | cycles/s (median of {args.runs}) | server CPU µs/cycle |")
    print("|---|---:|---:|---:|")
    for key, make in makers.items():
        if args.only and key not in args.only:
            continue
        for clients in args.clients:
            results = []
            for _ in range(args.runs):
                folder = tempfile.mkdtemp(prefix="dkbench-", dir="/tmp")
                server = make(folder)
                try:
                    results.append(asyncio.run(measure(server, clients, args.seconds)))
                finally:
                    server.proc.send_signal(signal.SIGTERM)
                    server.proc.wait()
                    shutil.rmtree(folder, ignore_errors=True)
            results.sort()
            rate, cpu = results[len(results) // 2]
            print(f"| {server.name} | {clients}+{clients} | {rate:,.0f} | {cpu:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
