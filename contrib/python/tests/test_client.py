"""The blocking client against a real daemon: each op's shape, the version fence, errors."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import Daemon

from docket_client import (
    BadRequest,
    CannotConnect,
    Client,
    DocketError,
    Event,
    InvalidState,
    Job,
    NotFound,
    StaleVersion,
    UnknownOp,
)


def test_hello_and_ping(client: Client) -> None:
    hello = client.hello("pytest")
    assert hello["protocol"] == 1 and hello["server"]["name"] == "docketd"
    assert "ok" not in hello and "max_line_bytes" in hello["limits"]
    client.ping()


def test_a_job_through_its_life(client: Client) -> None:
    job = client.enqueue("emails", {"to": "a@b"}, priority=2, max_attempts=4, backoff={"initial_ms": 10})
    assert isinstance(job, Job) and job.created is True
    assert (job.queue, job.state, job.version, job.payload) == ("emails", "pending", 1, {"to": "a@b"})
    assert job.raw["max_attempts"] == 4 and job["priority"] == 2

    claimed = client.claim("emails", lease_ms=5000, worker="pytest-1")
    assert claimed is not None and claimed.id == job.id
    assert (claimed.state, claimed.version, claimed.attempt, claimed.worker) == ("running", 2, 1, "pytest-1")

    renewed = client.progress(claimed, {"step": 1})
    assert renewed.version == 3 and renewed.progress == {"step": 1}
    kept = client.progress(renewed)  # no progress member: the stored value stays
    assert kept.version == 4 and kept.progress == {"step": 1}
    cleared = client.progress(kept, None)  # null clears it
    assert cleared.progress is None

    done = client.complete(cleared, {"sent": True})
    assert (done.state, done.result, done.is_final) == ("completed", {"sent": True}, True)

    read = client.get(job.id, events=True)
    assert read == done and read.events is not None
    assert [e.type for e in read.events] == [
        "enqueued",
        "claimed",
        "progress",
        "progress",
        "progress",
        "completed",
    ]
    assert all(isinstance(e, Event) for e in read.events)
    assert client.get(done).events is None


def test_unique_key_returns_the_stored_job(client: Client) -> None:
    first = client.enqueue("mail", {"n": 1}, unique_key="k")
    again = client.enqueue("mail", {"n": 2}, unique_key="k")
    assert first.created is True and again.created is False and again.id == first.id


def test_fail_retry_cancel(client: Client) -> None:
    job = client.enqueue("flaky", max_attempts=2, backoff={"initial_ms": 0})
    first = client.claim(["other", "flaky"])
    assert first is not None
    back = client.fail(first, {"why": "x"})
    assert (back.state, back.last_error) == ("pending", {"why": "x"})
    second = client.claim("flaky")
    assert second is not None
    final = client.fail(second, "for good", retry=False)
    assert final.state == "failed"
    again = client.retry(final)
    assert (again.state, again.attempt) == ("pending", 0)
    cancelled = client.cancel(again)
    assert cancelled.state == "cancelled"
    with pytest.raises(InvalidState) as caught:
        client.cancel(cancelled)
    assert caught.value.job is not None and caught.value.job.state == "cancelled"
    assert job.id == cancelled.id


def test_fail_with_retry_in_ms_and_delays(client: Client) -> None:
    later = client.enqueue("timed", run_at=datetime.now(timezone.utc) + timedelta(hours=1))
    assert later.run_at.endswith("Z") and client.claim("timed") is None
    client.enqueue("timed", delay_ms=0)
    job = client.claim("timed", lease_ms=1000)
    assert job is not None
    back = client.fail(job, retry_in_ms=0)
    assert back.state == "pending" and client.claim("timed") is not None
    with pytest.raises(ValueError, match="time zone"):
        client.enqueue("timed", run_at=datetime(2030, 1, 1))


def test_the_fence_refuses_a_stale_worker(daemon: Daemon) -> None:
    """A worker whose lease ran out learns it from StaleVersion, with the job's present
    version, and cannot overwrite the new owner's work."""
    with Client(daemon.socket) as old_worker, Client(daemon.socket) as new_worker:
        old_worker.enqueue("work", {"n": 1})
        held = old_worker.claim("work", lease_ms=100)
        assert held is not None and held.version == 2
        taken = new_worker.claim("work", wait_ms=5000)  # woken by the lease running out
        assert taken is not None and taken.id == held.id and taken.version == 4  # expiry, claim
        with pytest.raises(StaleVersion) as caught:
            old_worker.complete(held, {"from": "old"})
        error = caught.value
        assert error.code == "stale_version" and error.op == "complete"
        assert error.job is not None and (error.job.id, error.job.version, error.job.state) == (
            held.id,
            4,
            "running",
        )
        assert "version 4" in str(error) and error.raw["job"] == error.job.raw
        assert isinstance(error, DocketError)
        finished = new_worker.complete(taken, {"from": "new"})
        assert finished.result == {"from": "new"}


def test_fenced_ops_need_a_version(client: Client) -> None:
    job = client.enqueue("q")
    with pytest.raises(TypeError, match="version"):
        client.cancel(job.id)  # type: ignore[arg-type]
    assert client.cancel((job.id, 1)).state == "cancelled"


def test_list_pages_and_stats(client: Client) -> None:
    ids = [client.enqueue("paged", {"i": i}).id for i in range(5)]
    page = client.list("paged", limit=2)
    assert [j.id for j in page] == ids[:2] and page.next == ids[1]
    rest = client.list("paged", after=page.next)
    assert [j.id for j in rest.jobs] == ids[2:] and rest.next is None and len(rest) == 3
    assert client.list(state="running").jobs == []
    stats = client.stats()
    assert stats["queues"]["paged"] == {"pending": 5} and "ok" not in stats


def test_enqueue_many(client: Client) -> None:
    jobs = client.enqueue_many(
        [
            {"queue": "t", "payload": 1, "unique_key": "a"},
            {"queue": "t", "payload": 2},
            {"queue": "t", "unique_key": "a"},
        ]
    )
    assert [j.created for j in jobs] == [True, True, False] and jobs[2].id == jobs[0].id


def test_schedules(client: Client) -> None:
    assert client.schedule_list() == []
    made = client.schedule_put("nightly", "30 2 * * *", "reports", 0, payload={"k": 1})
    assert (made.name, made.version, made.paused) == ("nightly", 1, False)
    with pytest.raises(StaleVersion) as caught:
        client.schedule_put("nightly", "30 2 * * *", "reports", 0)
    assert caught.value.schedule == {"name": "nightly", "version": 1}
    edited = client.schedule_put("nightly", "0 3 * * mon-fri", "reports", made, paused=True)
    assert edited.version == 2 and client.schedule_get("nightly") == edited
    assert [s.name for s in client.schedule_list()] == ["nightly"]
    client.schedule_delete("nightly", edited)
    with pytest.raises(NotFound):
        client.schedule_get("nightly")


def test_purge_and_backup(client: Client, daemon: Daemon) -> None:
    job = client.enqueue("old")
    client.cancel(job)
    assert client.purge(queue="old", state="cancelled") == 1
    with pytest.raises(NotFound):
        client.get(job.id)
    path = daemon.directory / "copy.db"
    answer = client.backup(str(path))
    assert answer["path"] == str(path) and answer["bytes"] > 0 and path.exists()
    with pytest.raises(BadRequest):
        client.backup(str(path))  # never overwrites


def test_errors_map_to_classes(client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.get(999)
    assert caught.value.code == "not_found" and caught.value.message
    with pytest.raises(BadRequest):
        client.enqueue("")
    with pytest.raises(UnknownOp):
        client.call("frobnicate")
    raw = client.request({"op": "frobnicate", "id": 7})  # the low level never raises
    assert raw["ok"] is False and raw["id"] == 7 and raw["error"]["code"] == "unknown_op"
    client.ping()  # still in step after every refusal


def test_metrics_count_the_jobs(client: Client) -> None:
    # snooze and log: test_graphs.py; the queue ops: test_queues.py.
    client.enqueue("measured")
    samples = dict(line.rsplit(" ", 1) for line in client.metrics().splitlines() if line[:1] not in ("", "#"))
    assert float(samples['docket_jobs{queue="measured",state="pending"}']) == 1


def test_cannot_connect_is_reported_at_once(workdir: object) -> None:
    started = time.monotonic()
    with pytest.raises(CannotConnect, match="Is docketd running"):
        Client("/tmp/no-such-dir/docket.sock").ping()
    assert time.monotonic() - started < 1


def test_requests_resume_after_a_restart(daemon: Daemon) -> None:
    with Client(daemon.socket) as client:
        job = client.enqueue("restart")
        daemon.restart()
        # The idle connection is dead; both a read and a change go out on a new one.
        assert client.get(job.id).id == job.id
        daemon.restart()
        assert client.cancel(job).state == "cancelled"


def test_one_client_is_shared_by_threads(client: Client) -> None:
    ids = []

    def enqueue_some() -> None:
        for _ in range(20):
            ids.append(client.enqueue("shared").id)

    threads = [threading.Thread(target=enqueue_some) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(1, 81))


def test_job_member_access() -> None:
    job = Job({"id": 3, "version": 2, "state": "running", "concurrency_key": None})
    assert job.ref == (3, 2) and job.concurrency_key is None and "state" in job
    with pytest.raises(AttributeError, match="payload"):
        _ = job.payload
    assert "Job(id=3" in repr(job)
