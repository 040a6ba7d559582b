"""run_worker: results, exceptions, lease renewal, and stopping (signal, stop(), grace)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable

import pytest
from conftest import PACKAGE_ROOT, Daemon

from docket_client import AsyncClient, AsyncWorker, Client, Job, Worker


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stop_when(worker: Worker, condition: Callable[[], bool]) -> threading.Thread:
    """Stop the worker from another thread once the condition holds (as a signal would)."""

    def watch() -> None:
        wait_until(condition, 20)
        worker.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_worker_completes_and_fails_jobs(client: Client) -> None:
    for n in range(6):
        client.enqueue("calc", {"n": n}, max_attempts=1)

    def handler(job: Job) -> Any:
        if job.payload["n"] == 3:
            raise ValueError("three is not allowed")
        return {"square": job.payload["n"] ** 2}

    worker = Worker(client, "calc", handler, concurrency=2, wait_ms=200, handle_signals=False)
    stop_when(worker, lambda: worker.report.completed + worker.report.failed == 6)
    report = worker.run()
    assert (report.completed, report.failed, report.lost) == (5, 1, 0)
    jobs = client.list("calc").jobs
    assert [j.result for j in jobs if j.state == "completed"] == [{"square": n * n} for n in (0, 1, 2, 4, 5)]
    (failed,) = [j for j in jobs if j.state == "failed"]
    assert failed.last_error == {"type": "ValueError", "message": "three is not allowed"}


def test_worker_renews_the_lease_while_the_handler_runs(client: Client) -> None:
    client.enqueue("slow")

    def slow(job: Job) -> str:
        time.sleep(1.0)  # more than three leases
        return "late"

    worker = Worker(client, "slow", slow, lease_ms=300, wait_ms=100, handle_signals=False)
    stop_when(worker, lambda: worker.report.completed + worker.report.lost > 0)
    report = worker.run()
    assert (report.completed, report.lost) == (1, 0)
    (job,) = client.list("slow").jobs
    # enqueue 1, claim 2, several renewals, complete: nothing took the job away meanwhile.
    assert job.state == "completed" and job.result == "late" and job.attempt == 1 and job.version >= 5
    events = client.get(job.id, events=True).events or []
    assert "lease_expired" not in [e.type for e in events]


def test_a_non_json_result_fails_the_job(client: Client) -> None:
    client.enqueue("odd", max_attempts=1)
    worker = Worker(client, "odd", lambda job: {1, 2}, wait_ms=100, handle_signals=False)
    stop_when(worker, lambda: worker.report.failed > 0)
    assert worker.run().failed == 1
    (job,) = client.list("odd").jobs
    assert job.state == "failed" and job.last_error["type"] == "TypeError"


def test_stop_withdraws_a_waiting_claim(client: Client) -> None:
    worker = Worker(client, "idle", lambda job: None, wait_ms=30000, handle_signals=False)
    runner = threading.Thread(target=worker.run)
    runner.start()
    wait_until(lambda: client.stats()["waiting_claims"] == 1)
    started = time.monotonic()
    worker.stop()
    runner.join(5)
    assert not runner.is_alive() and time.monotonic() - started < 2
    job = client.enqueue("idle")
    time.sleep(0.2)
    assert client.get(job.id).state == "pending"  # nobody claimed it for the stopped worker


def test_grace_hands_back_a_job_whose_handler_outlives_it(client: Client) -> None:
    client.enqueue("stuck")
    started, release = threading.Event(), threading.Event()

    def stuck(job: Job) -> None:
        started.set()
        release.wait(10)

    worker = Worker(client, "stuck", stuck, wait_ms=100, grace=0.2, handle_signals=False)
    runner = threading.Thread(target=worker.run)
    runner.start()
    assert started.wait(10)
    worker.stop()
    runner.join(5)
    release.set()
    assert not runner.is_alive() and worker.report.handed_back == 1
    (job,) = client.list("stuck").jobs
    assert job.state == "pending" and job.last_error["type"] == "WorkerStopped"


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from docket_client import AsyncClient, Client

    def handler(job):
        print("started", job.id, flush=True)
        time.sleep(1.0)
        return {"finished": job.id}

    socket, flavour = sys.argv[1], sys.argv[2]
    # Two slots: one runs the handler, the other waits in a claim that a stop must withdraw.
    options = dict(lease_ms=2000, wait_ms=60000, concurrency=2)
    if flavour == "asyncio":
        # A plain handler runs in a thread of the loop's executor; the signal must still
        # reach the loop.
        report = asyncio.run(AsyncClient(socket).run_worker("term", handler, **options))
    else:
        report = Client(socket).run_worker("term", handler, **options)
    print("report", report.completed, report.failed, report.lost, flush=True)
    """
)


@pytest.mark.parametrize("flavour", ["threads", "asyncio"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_claiming_and_finishes_the_job_in_hand(
    client: Client, daemon: Daemon, flavour: str, signum: int
) -> None:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT / "src"))
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, daemon.socket, flavour], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        job = client.enqueue("term")
        assert process.stdout is not None
        assert process.stdout.readline().split() == ["started", str(job.id)]
        wait_until(lambda: client.stats()["waiting_claims"] == 1)
        process.send_signal(signum)
        # Withdrawn at once, not when its 60 s run out: no job can go to a stopping worker.
        wait_until(lambda: client.stats()["waiting_claims"] == 0, timeout=5)
        later = client.enqueue("term")
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert out.split() == ["report", "1", "0", "0"]
    assert client.get(job.id).result == {"finished": job.id}
    assert client.get(later.id).state == "pending"


def test_async_worker(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            for n in range(4):
                await client.enqueue("aq", {"n": n}, max_attempts=1)

            async def handler(job: Job) -> Any:
                await asyncio.sleep(0.4)  # longer than the lease: renewals keep it
                if job.payload["n"] == 2:
                    raise RuntimeError("bad input")
                return job.payload["n"] * 10

            worker = AsyncWorker(
                client, "aq", handler, concurrency=2, lease_ms=200, wait_ms=100, handle_signals=False
            )
            running = asyncio.ensure_future(worker.run())
            while worker.report.completed + worker.report.failed < 4:
                await asyncio.sleep(0.02)
            worker.stop()
            report = await asyncio.wait_for(running, 5)
            assert (report.completed, report.failed, report.lost) == (3, 1, 0)
            jobs = (await client.list("aq")).jobs
            assert [j.result for j in jobs] == [0, 10, None, 30]
            assert jobs[2].last_error == {"type": "RuntimeError", "message": "bad input"}

    asyncio.run(asyncio.wait_for(main(), 30))


def test_async_worker_with_a_plain_handler_and_stop(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            await client.enqueue("plain", "x")
            worker = AsyncWorker(
                client, "plain", lambda job: job.payload.upper(), wait_ms=30000, handle_signals=False
            )
            running = asyncio.ensure_future(worker.run())
            while worker.report.completed < 1:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # now waiting in a claim
            started = time.monotonic()
            worker.stop()
            await asyncio.wait_for(running, 5)
            assert time.monotonic() - started < 2
            assert (await client.list("plain")).jobs[0].result == "X"
            job = await client.enqueue("plain")
            await asyncio.sleep(0.2)
            assert (await client.get(job)).state == "pending"

    asyncio.run(asyncio.wait_for(main(), 30))
