#!/usr/bin/env python3
"""Runs the same job-queue workload against docketd, beanstalkd and Redis, and prints a table.

The workload: P producers enqueue small jobs, C consumers claim (reserve / BLMOVE) and
complete (delete / LREM) them, every request waiting for its answer, each client on its own
Unix-socket connection, all in one asyncio process. The producers stop after --seconds and
the consumers then drain the backlog, as `docket bench` does, so every job enqueued is
claimed and completed inside the measurement. (A producer makes one round trip per job and
a consumer two, so producers that ran on would enqueue two jobs for every one completed.)
Reported: enqueue -> claim -> complete cycles per second, up to the last completion, the
server's CPU time per cycle (from /proc/PID/stat), and the generator's (this process, or
`docket bench`): the two share the machine, so a heavier client leaves the server less.

    contrib/bench/compare.py --seconds 10 --clients 32            # all of them
    contrib/bench/compare.py --only docket --docketd .build/release/docketd

The generator is one Python process; past roughly 15,000 cycles/s it is the bottleneck, so
docketd is also driven by `docket bench` (Swift, the same workload chained on event loops),
the "docket-bench" row. Runs are interleaved (run 1 of every server, then run 2, ...), so
a machine that speeds up or slows down during the comparison favours none of them.
"""
import argparse, asyncio, os, re, resource, shutil, signal, subprocess, sys, tempfile, time

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
        await call(b'{"op":"enqueue","queue":"bench","payload":{"n":1},"fields":[]}\n')

    async def consume(self, call):
        import json
        # Brief answers, as a worker that needs only the payload asks for them: the job's id
        # and version come back always, the rest only when named.
        answer = json.loads(await call(b'{"op":"claim","queue":"bench","wait_ms":1000,"fields":["payload"]}\n'))
        job = answer.get("job")
        if not job:
            return False
        done = json.loads(await call(b'{"op":"complete","job":%d,"version":%d,"fields":[]}\n' % (job["id"], job["version"])))
        return done.get("ok", False)


class DocketBench(Docket):
    """docketd driven by `docket bench` instead of the Python generator."""
    name = "docketd (synchronous=FULL), driven by docket bench"

    def __init__(self, args, folder):
        super().__init__(args, folder)
        self.bench = args.docket

    def run(self, clients, seconds):
        """Runs `docket bench` to the end (its producers stop after `seconds`, then the backlog
        drains) and returns its cycles per second."""
        output = subprocess.run(
            [self.bench, "bench", "--producers", str(clients), "--consumers", str(clients), "--duration", f"{round(seconds * 1000)}ms"],
            env=dict(os.environ, DOCKET_SOCKET=self.sock), capture_output=True, text=True, check=True).stdout
        found = re.search(r"(\d+) cycles in [\d.]+ s: (\d+) cycles/s", output)
        if not found:
            raise SystemExit(f"unexpected docket bench output:\n{output}")
        return int(found.group(1)), float(found.group(2))


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
    if isinstance(server, DocketBench):
        cpu_before = cpu_seconds(server.proc.pid)
        bench_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cycles, rate = await asyncio.to_thread(server.run, clients, seconds)
        bench = resource.getrusage(resource.RUSAGE_CHILDREN)
        bench_cpu = bench.ru_utime + bench.ru_stime - bench_before.ru_utime - bench_before.ru_stime
        return rate, per_cycle(cpu_seconds(server.proc.pid) - cpu_before, cycles), per_cycle(bench_cpu, cycles)
    stop = time.monotonic() + seconds
    producing = clients
    produced = 0
    cycles = 0
    drained = None

    def note_drained():
        # The last job may be completed before its producer has read the enqueue's answer,
        # so both sides look.
        nonlocal drained
        if drained is None and not producing and cycles == produced:
            drained = time.monotonic()

    async def producer():
        nonlocal producing, produced
        call = await server.connect()
        while time.monotonic() < stop:
            await server.produce(call)
            produced += 1
        producing -= 1
        note_drained()

    async def consumer():
        nonlocal cycles
        call = await server.connect()
        # A consumer whose claim is waiting when the backlog runs out ends when that wait
        # does (up to a second), after `drained`.
        while producing or cycles < produced:
            if await server.consume(call):
                cycles += 1
                note_drained()

    cpu_before = cpu_seconds(server.proc.pid)
    own_before = time.process_time()
    started = time.monotonic()
    await asyncio.gather(*[producer() for _ in range(clients)], *[consumer() for _ in range(clients)])
    elapsed = (drained or time.monotonic()) - started
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    return cycles / elapsed, per_cycle(cpu, cycles), per_cycle(time.process_time() - own_before, cycles)


def per_cycle(seconds, cycles):
    return seconds / max(cycles, 1) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32],
                        help="producers and consumers each (default: 8 32)")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--docketd", default=".build/release/docketd")
    parser.add_argument("--docket", default=".build/release/docket", help="the docket CLI, for the docket-bench row")
    parser.add_argument("--only", choices=["docket-bench", "docket", "beanstalkd", "beanstalkd-f0", "redis"], nargs="+")
    args = parser.parse_args()
    makers = {
        "docket-bench": lambda folder: DocketBench(args, folder),
        "docket": lambda folder: Docket(args, folder),
        "beanstalkd-f0": lambda folder: Beanstalk(args, folder, durable=True),
        "redis": lambda folder: Redis(args, folder),
        "beanstalkd": lambda folder: Beanstalk(args, folder, durable=False),
    }
    chosen = [key for key in makers if not args.only or key in args.only]
    results = {(key, clients): [] for key in chosen for clients in args.clients}
    names = {}
    for clients in args.clients:
        for _ in range(args.runs):
            for key in chosen:
                folder = tempfile.mkdtemp(prefix="dkbench-", dir="/tmp")
                server = makers[key](folder)
                names[key] = server.name
                try:
                    results[(key, clients)].append(asyncio.run(measure(server, clients, args.seconds)))
                finally:
                    server.proc.send_signal(signal.SIGTERM)
                    server.proc.wait()
                    shutil.rmtree(folder, ignore_errors=True)
    print(f"| server | clients | cycles/s (runs) | median | server CPU µs/cycle | generator CPU µs/cycle |")
    print("|---|---:|---:|---:|---:|---:|")
    medians = {}
    for key in chosen:
        for clients in args.clients:
            runs = results[(key, clients)]
            rate, cpu, generator = sorted(runs)[len(runs) // 2]
            medians[(key, clients)] = rate
            each = " · ".join(f"{run[0]:,.0f}" for run in runs)
            print(f"| {names[key]} | {clients}+{clients} | {each} | {rate:,.0f} | {cpu:,.0f} | {generator:,.0f} |", flush=True)
    for clients in args.clients:
        if ("docket-bench", clients) in medians:
            ours = medians[("docket-bench", clients)]
            ratios = [f"{ours / medians[(key, clients)]:.2f}× {names[key]}"
                      for key in chosen if key not in ("docket-bench", "docket")]
            print(f"\n{clients}+{clients}, docket bench: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
