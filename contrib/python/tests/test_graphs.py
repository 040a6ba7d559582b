"""Dependencies, attempt timeouts, snooze, logs and trace context against a real daemon
(protocol/README.md, sections 24 to 26), through both clients."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, List, Optional

import pytest
from conftest import Daemon

from docket_client import (
    AsyncClient,
    BadRequest,
    Client,
    InvalidState,
    Job,
    NotFound,
    StaleVersion,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def claim(client: Client, queue: str) -> Job:
    job = client.claim(queue, lease_ms=30000, worker="pytest")
    assert job is not None, "nothing to claim in %s" % queue
    return job


def types(job: Job) -> List[str]:
    assert job.events is not None
    return [e.type for e in job.events]


# -- dependencies -------------------------------------------------------------------


def test_a_three_level_graph_with_a_failure_in_the_middle(client: Client) -> None:
    download, transcode, publish, thumbnail = client.enqueue_many(
        [
            {"queue": "media", "payload": {"step": "download"}},
            {"queue": "media", "payload": {"step": "transcode"}, "after_index": [0]},
            {"queue": "media", "payload": {"step": "publish"}, "after_index": [1]},
            {"queue": "media", "payload": {"step": "thumbnail"}, "after_index": [0]},
        ]
    )
    assert (download.after, download.waiting_for) == ([], [])
    assert (transcode.after, transcode.waiting_for) == ([download.id], [download.id])
    assert (publish.after, publish.waiting_for) == ([transcode.id], [transcode.id])
    assert all(j.state == "pending" and j.version == 1 and j.created for j in (download, transcode, publish))

    # Only the first step is eligible; the others wait outside the claim index.
    first = claim(client, "media")
    assert first.id == download.id
    assert client.claim("media") is None
    client.complete(first, {"file": "talk.mov"})

    # The completion released both of its dependents in its transaction.
    released = client.get(transcode, events=True)
    assert (released.state, released.version, released.waiting_for) == ("pending", 2, [])
    assert types(released) == ["enqueued", "dependencies_met"]
    assert client.get(publish).waiting_for == [transcode.id]

    middle = claim(client, "media")
    assert middle.id == transcode.id and middle.version == 3
    failed = client.fail(middle, {"message": "unsupported codec"}, retry=False)
    assert failed.state == "failed"

    # The failure cancelled the step after it, with the reason, at once.
    cancelled = client.get(publish, events=True)
    assert (cancelled.state, cancelled.version, cancelled.waiting_for) == ("cancelled", 2, [])
    assert cancelled.last_error["code"] == "dependency_failed"
    assert (cancelled.last_error["job"], cancelled.last_error["state"]) == (transcode.id, "failed")
    assert types(cancelled) == ["enqueued", "cancelled"]
    assert cancelled.events is not None and cancelled.events[1].data == cancelled.last_error
    # The sibling that only needed the download is unaffected.
    sibling = claim(client, "media")
    assert sibling.id == thumbnail.id

    # A job enqueued after the failed step is cancelled at once.
    late = client.enqueue("media", {"step": "archive"}, after=[failed])
    assert (late.state, late.version, late.created) == ("cancelled", 2, True)
    assert late.last_error["job"] == transcode.id

    # Retrying the cancelled step makes it wait again; retrying the failed one and
    # completing it releases it.
    waiting = client.retry(cancelled)
    assert (waiting.state, waiting.attempt, waiting.waiting_for) == ("pending", 0, [transcode.id])
    again = client.retry(failed)
    assert (again.state, again.waiting_for) == ("pending", [])
    client.complete(claim(client, "media"), "mp4")
    last = claim(client, "media")
    assert last.id == publish.id and last.attempt == 1
    assert types(client.get(last, events=True))[-3:] == ["retried", "dependencies_met", "claimed"]


def test_a_cancellation_cancels_the_dependents_transitively(client: Client) -> None:
    root, middle, leaf = client.enqueue_many(
        [{"queue": "chain"}, {"queue": "chain", "after_index": [0]}, {"queue": "chain", "after_index": [0, 1]}]
    )
    assert leaf.waiting_for == [root.id, middle.id]
    client.cancel(root)
    for job, cause in ((middle, root), (leaf, None)):
        read = client.get(job)
        assert (read.state, read.version, read.last_error["code"]) == ("cancelled", 2, "dependency_failed")
        assert read.last_error["state"] == "cancelled"
        if cause is not None:
            assert read.last_error["job"] == cause.id


def test_unknown_dependencies_refuse_the_whole_request(client: Client) -> None:
    with pytest.raises(NotFound) as refused:
        client.enqueue("none", after=[999])
    assert "999" in refused.value.message and "nothing was enqueued" in refused.value.message
    stored = client.enqueue("none")
    with pytest.raises(NotFound):
        client.enqueue_many([{"queue": "none"}, {"queue": "none", "after": [stored, 999]}])
    assert [j.id for j in client.list("none")] == [stored.id]  # nothing of the batch was stored
    with pytest.raises(BadRequest) as later:
        client.enqueue_many([{"queue": "none"}, {"queue": "none", "after_index": [1]}])
    assert "jobs[1].after_index" in later.value.message
    with pytest.raises(BadRequest):
        client.enqueue_many([{"queue": "none", "after_index": [0]}])
    # Mistakes the client can see before sending anything.
    with pytest.raises(TypeError):
        client.enqueue("none", after_index=[0])
    with pytest.raises(TypeError):
        client.enqueue_many([{"queue": "none"}, {"queue": "none", "after_index": "0"}])
    assert [j.id for j in client.list("none")] == [stored.id]


def test_a_waiting_claim_is_woken_when_the_dependencies_are_met(daemon: Daemon, client: Client) -> None:
    first, second = client.enqueue_many([{"queue": "first"}, {"queue": "second", "after_index": [0]}])
    got: List[Optional[Job]] = []
    with Client(daemon.socket) as other:
        waiter = threading.Thread(target=lambda: got.append(other.claim("second", wait_ms=10000)))
        waiter.start()
        time.sleep(0.2)  # the claim is waiting now
        started = time.monotonic()
        client.complete(claim(client, "first"))
        waiter.join(10)
    assert got and got[0] is not None and got[0].id == second.id
    assert time.monotonic() - started < 5, "woken by the release, not by the claim's timeout"


# -- attempt timeouts ---------------------------------------------------------------


def test_an_attempt_that_runs_past_its_timeout_fails(client: Client) -> None:
    job = client.enqueue("render", {"scene": 1}, timeout_ms=400, max_attempts=2, backoff={"initial_ms": 0})
    assert job.timeout_ms == 400
    running = client.progress(claim(client, "render"), {"frame": 1})  # progress does not extend it
    time.sleep(1.0)
    timed_out = client.get(job, events=True)
    assert (timed_out.state, timed_out.attempt, timed_out.version) == ("pending", 1, 4)
    assert timed_out.last_error["code"] == "timeout"
    assert timed_out.events is not None and timed_out.events[-1].type == "timed_out"
    assert timed_out.events[-1].peer is None
    with pytest.raises(StaleVersion):  # the old worker learns it at its next request
        client.progress(running, {"frame": 2})
    second = claim(client, "render")
    assert second.attempt == 2
    time.sleep(1.0)
    final = client.get(job)
    assert (final.state, final.last_error["code"]) == ("failed", "timeout")


def test_timeout_ms_out_of_range_is_refused(client: Client) -> None:
    for bad in (0, 604800001):
        with pytest.raises(BadRequest):
            client.enqueue("render", timeout_ms=bad)


# -- snooze -------------------------------------------------------------------------


def test_snooze_puts_the_job_back_without_counting_the_attempt(client: Client) -> None:
    job = client.enqueue("crawl", {"feed": "x"}, max_attempts=1)
    running = claim(client, "crawl")
    assert running.attempt == 1
    snoozed = client.snooze(running, 60000)
    assert (snoozed.state, snoozed.version, snoozed.attempt, snoozed.lease_expires_at) == ("pending", 3, 0, None)
    assert snoozed.run_at > running.updated_at
    assert client.claim("crawl") is None  # not before its delay
    history = client.get(job, events=True)
    assert history.events is not None and history.events[-1].type == "snoozed"
    assert history.events[-1].data == {"delay_ms": 60000}
    with pytest.raises(InvalidState):
        client.snooze(snoozed, 0)
    with pytest.raises(StaleVersion):
        client.snooze(running, 0)

    # delay 0: eligible at once, and the next claim is the first attempt again, so a job
    # with one attempt may snooze as often as it needs.
    other = client.enqueue("crawl-now", max_attempts=1)
    now = client.snooze(claim(client, "crawl-now"), 0)
    assert now.state == "pending"
    again = claim(client, "crawl-now")
    assert (again.id, again.attempt) == (other.id, 1)


# -- logs ---------------------------------------------------------------------------


def test_log_lines_keep_the_version_and_come_back_only_when_asked(client: Client) -> None:
    job = client.enqueue("build")
    running = claim(client, "build")
    same = client.log(running, "compiling\n")
    assert isinstance(same, Job) and (same.version, same.state) == (running.version, "running")
    client.log(running, "warning: unused\n", "stderr")
    client.log(same, "linked\n", stream="stdout")
    # The worker goes on with the version it had.
    done = client.complete(running, "ok")
    assert done.version == running.version + 1

    plain = client.get(job, events=True)
    assert "log" not in types(plain) and plain.log_dropped_bytes is None
    logged = client.get(job, logs=True)  # implies events
    assert types(logged) == ["enqueued", "claimed", "log", "log", "log", "completed"]
    assert logged.log_dropped_bytes == 0
    assert logged.log_text() == "compiling\nwarning: unused\nlinked\n"
    assert logged.log_text("stderr") == "warning: unused\n"
    assert logged.events is not None and logged.events[2].data == {"stream": "stdout", "text": "compiling\n"}
    with pytest.raises(ValueError):
        plain_without_events = client.get(job)
        plain_without_events.log_text()

    with pytest.raises(InvalidState):  # a finished job takes no log
        client.log(done, "late\n")
    with pytest.raises(StaleVersion):
        client.log(running, "late\n")
    with pytest.raises(BadRequest):
        client.log(done, "x", "stdlog")
    with pytest.raises(TypeError):
        client.log(done, b"bytes")  # type: ignore[arg-type]


def test_the_daemon_keeps_the_newest_mebibyte_of_log(client: Client) -> None:
    job = client.enqueue("chatty")
    running = claim(client, "chatty")
    for digit in "0123":
        client.log(running, digit * 400000)
    read = client.get(job, logs=True)
    text = read.log_text()
    assert read.log_dropped_bytes is not None and read.log_dropped_bytes > 400000
    assert not text.startswith("0") and text.endswith("3" * 400000)
    assert len(text.encode()) + read.log_dropped_bytes >= 1600000


def test_watch_streams_log_lines_only_when_asked(client: Client) -> None:
    job = client.enqueue("watched")
    running = claim(client, "watched")
    client.log(running, "hello\n")
    client.complete(running)
    with_logs = [e.type for e in client.watch(job=job, since=0, logs=True)]
    without = [e.type for e in client.watch(job=job, since=0)]
    assert with_logs == ["enqueued", "claimed", "log", "completed"]
    assert without == ["enqueued", "claimed", "completed"]


# -- trace context ------------------------------------------------------------------


def test_trace_context_travels_with_the_job(client: Client) -> None:
    job = client.enqueue("traced", traceparent=TRACEPARENT, tracestate="rojo=00f067aa0ba902b7")
    assert (job.traceparent, job.tracestate) == (TRACEPARENT, "rojo=00f067aa0ba902b7")
    claimed = claim(client, "traced")
    assert claimed.traceparent == TRACEPARENT
    plain = client.enqueue("traced")
    assert (plain.traceparent, plain.tracestate, plain.after, plain.waiting_for, plain.timeout_ms) == (
        None,
        None,
        [],
        [],
        None,
    )
    for bad in (TRACEPARENT.upper(), "ff" + TRACEPARENT[2:], "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "x"):
        with pytest.raises(BadRequest) as refused:
            client.enqueue("traced", traceparent=bad)
        assert "traceparent" in refused.value.message
    with pytest.raises(BadRequest):
        client.enqueue("traced", tracestate="Not=valid")


# -- the asyncio client -------------------------------------------------------------


def test_the_async_client_does_the_same(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            first, second = await client.enqueue_many(
                [{"queue": "a", "timeout_ms": 60000}, {"queue": "a", "after_index": [0], "traceparent": TRACEPARENT}]
            )
            assert second.waiting_for == [first.id] and second.traceparent == TRACEPARENT
            running = await client.claim("a")
            assert running is not None and running.id == first.id and running.timeout_ms == 60000
            same = await client.log(running, "step 1\n")
            assert same.version == running.version
            await client.log(running, "oops\n", "stderr")
            logged = await client.get(first, logs=True)
            assert logged.log_text() == "step 1\noops\n" and logged.log_dropped_bytes == 0
            snoozed = await client.snooze(running, 0)
            assert (snoozed.state, snoozed.attempt) == ("pending", 0)
            again = await client.claim("a")
            assert again is not None and again.id == first.id
            failed = await client.fail(again, "no", retry=False)
            assert failed.state == "failed"
            cancelled = await client.get(second)
            assert cancelled.state == "cancelled" and cancelled.last_error["code"] == "dependency_failed"
            with pytest.raises(NotFound):
                await client.enqueue("a", after=[999])
            events: List[Any] = []
            async with client.watch(job=first, since=0, logs=True) as watch:
                async for event in watch:
                    events.append(event.type)
            assert events == ["enqueued", "claimed", "log", "log", "snoozed", "claimed", "failed"]

    asyncio.run(asyncio.wait_for(main(), 30))
