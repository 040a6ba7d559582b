#!/usr/bin/env python3
"""What the metrics cost: `docket bench` against docketd with and without --metrics-listen
(scraped once a second while it runs, as a busy Prometheus would), and optionally against a
docketd built without metrics, interleaved in one run.

    contrib/bench/metrics_ab.py --docketd .build/release/docketd --docket .build/release/docket \
        [--before /path/to/older/docketd] [--rounds 5] [--seconds 5] [--clients 32]

Each run starts a fresh daemon on a fresh database (SQLite, --sync full) in a folder of its
own and runs `docket bench --producers N --consumers N --duration S`. The variants take turns
within each round, in an order reversed every other round, so a machine that slows down
during the run weighs on all of them alike. Prints a Markdown table: every run's
cycles per second, the median, and the median against "metrics off".
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_socket(path, process, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"docketd exited with {process.returncode}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                s.sendall(b'{"op":"ping"}\n')
                if b'"ok":true' in s.recv(256):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"docketd did not answer on {path} within {timeout} s")


def scrape_every_second(url, stop, results):
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()
                results.append(answer.status)
        except OSError as error:
            results.append(str(error))
        stop.wait(1)


def run_once(args, docketd, metrics):
    folder = tempfile.mkdtemp(prefix="dk-ab-")
    sock = os.path.join(folder, "d.sock")
    command = [docketd, "--socket", sock, "--db", os.path.join(folder, "d.db"), "--log-level", "warning"]
    port = free_port() if metrics else None
    if metrics:
        command += ["--metrics-listen", f"127.0.0.1:{port}"]
    daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop, scrapes = threading.Event(), []
    try:
        wait_for_socket(sock, daemon)
        scraper = None
        if metrics:
            scraper = threading.Thread(target=scrape_every_second, args=(f"http://127.0.0.1:{port}/metrics", stop, scrapes))
            scraper.start()
        bench = subprocess.run(
            [args.docket, "--socket", sock, "bench", "--producers", str(args.clients), "--consumers", str(args.clients),
             "--duration", f"{args.seconds}s", "--json"],
            capture_output=True, text=True, check=True)
        stop.set()
        if scraper:
            scraper.join()
            if not scrapes or any(status != 200 for status in scrapes):
                raise SystemExit(f"scrapes failed: {scrapes}")
        return json.loads(bench.stdout)["cycles_per_second"]
    finally:
        stop.set()
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docketd", required=True)
    parser.add_argument("--docket", required=True)
    parser.add_argument("--before", help="a docketd built without metrics, for a third column")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()

    variants = [("metrics off", args.docketd, False), ("--metrics-listen, scraped every second", args.docketd, True)]
    if args.before:
        variants.insert(0, ("before metrics", args.before, False))
    figures = {name: [] for name, _, _ in variants}
    for round_number in range(args.rounds):
        order = variants if round_number % 2 == 0 else list(reversed(variants))
        for name, docketd, metrics in order:
            figures[name].append(run_once(args, docketd, metrics))
            print(f"round {round_number + 1}: {name}: {figures[name][-1]} cycles/s", flush=True)

    baseline = statistics.median(figures["metrics off"])
    print()
    print(f"| docketd, `docket bench` {args.clients}+{args.clients}, {args.seconds} s | runs (cycles/s) | median | vs metrics off |")
    print("|---|---|---|---|")
    for name, _, _ in variants:
        runs = figures[name]
        median = statistics.median(runs)
        print(f"| {name} | {' · '.join(f'{r:,}' for r in runs)} | **{median:,.0f}** | {median / baseline:.1%} |")


if __name__ == "__main__":
    main()
