"""Queue settings against a real daemon: queue_put/queue_get/queue_list, the version fence
on settings, concurrency keys, and claims held back by a pause, running caps and a rate."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Dict, Optional

import pytest
from conftest import Daemon

from docket_client import (
    UNSET,
    AsyncClient,
    BadRequest,
    Client,
    Job,
    Queue,
    QueueInfo,
    StaleVersion,
)


def test_settings_round_trip(client: Client) -> None:
    # Any name is answered: no settings means version 0 and the defaults.
    fresh = client.queue_get("llm")
    assert isinstance(fresh, Queue)
    assert fresh.raw == {
        "name": "llm",
        "paused": False,
        "max_running": None,
        "max_running_per_key": None,
        "rate": None,
        "version": 0,
        "counts": {},
    }
    assert client.queue_list() == []  # neither jobs nor settings

    made = client.queue_put("llm", 0, max_running=4, rate=(50, 60000))
    assert (made.version, made.paused, made.max_running, made.max_running_per_key) == (1, False, 4, None)
    assert made.rate == {"max": 50, "per_ms": 60000} and made.counts == {}

    # Passing the Queue sends its version; settings not given keep their value.
    paused = client.queue_put("llm", made, paused=True, max_running_per_key=1)
    assert (paused.version, paused.paused, paused.max_running, paused.max_running_per_key) == (2, True, 4, 1)
    assert paused.rate == {"max": 50, "per_ms": 60000}

    # None lifts a limit; UNSET (the default) leaves it; a mapping works as well as a pair.
    lifted = client.queue_put("llm", paused, max_running=None, rate={"max": 10, "per_ms": 1000})
    assert (lifted.max_running, lifted.max_running_per_key, lifted.rate) == (None, 1, {"max": 10, "per_ms": 1000})
    cleared = client.queue_put("llm", lifted, rate=None, max_running_per_key=UNSET)
    assert (cleared.rate, cleared.max_running_per_key, cleared.paused, cleared.version) == (None, 1, True, 4)

    assert client.queue_get("llm") == cleared
    listed = client.queue_list()
    assert [q.name for q in listed] == ["llm"] and listed[0] == cleared
    assert "Queue(name='llm', version=4" in repr(cleared)
    assert QueueInfo is Queue  # the first name of the class still works


def test_stale_settings_carry_error_queue(client: Client) -> None:
    first = client.queue_put("ops", 0, paused=True)
    with pytest.raises(StaleVersion) as again:
        client.queue_put("ops", 0, paused=False)  # version 0, but settings exist
    assert again.value.queue == {"name": "ops", "version": 1}
    assert again.value.job is None and again.value.schedule is None and again.value.op == "queue_put"
    client.queue_put("ops", first, max_running=2)
    with pytest.raises(StaleVersion) as old:
        client.queue_put("ops", first, paused=False)  # someone else changed them meanwhile
    assert old.value.queue == {"name": "ops", "version": 2}
    with pytest.raises(StaleVersion) as none_stored:
        client.queue_put("never-set", 3, paused=False)
    assert none_stored.value.queue == {"name": "never-set", "version": 0}
    assert client.queue_get("ops").paused is True  # nothing changed


def test_bad_settings_are_refused(client: Client) -> None:
    with pytest.raises(BadRequest, match="max_running"):
        client.queue_put("q", 0, max_running=0)
    with pytest.raises(BadRequest, match="rate.per_ms"):
        client.queue_put("q", 0, rate={"max": 5})
    with pytest.raises(BadRequest, match="rate.per_ms"):
        client.queue_put("q", 0, rate=(5, 86400001))
    with pytest.raises(TypeError, match="rate"):
        client.queue_put("q", 0, rate=(1, 2, 3))  # type: ignore[arg-type]  # refused before sending
    with pytest.raises(TypeError, match="version"):
        client.queue_put("q", "0")  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="concurrency_key"):
        client.enqueue("q", concurrency_key="")
    assert client.queue_get("q").version == 0 and client.list("q").jobs == []


def test_concurrency_key_on_jobs(client: Client) -> None:
    job = client.enqueue("keys", {"n": 1}, concurrency_key="repo:api")
    assert job.concurrency_key == "repo:api" and client.get(job).concurrency_key == "repo:api"
    assert client.enqueue("keys").concurrency_key is None
    many = client.enqueue_many([{"queue": "keys", "concurrency_key": "a"}, {"queue": "keys"}])
    assert [j.concurrency_key for j in many] == ["a", None]
    brief = client.get(job, fields=["concurrency_key"])
    assert brief.raw == {"id": job.id, "version": 1, "concurrency_key": "repo:api"}


def test_a_paused_queue_hands_out_nothing(client: Client) -> None:
    job = client.enqueue("paused")
    settings = client.queue_put("paused", 0, paused=True)
    assert client.claim("paused") is None
    assert client.last_retry_after_ms is None  # a pause has no end to announce
    assert client.get(job).state == "pending"
    client.queue_put("paused", settings, paused=False)
    claimed = client.claim("paused")
    assert claimed is not None and claimed.id == job.id


def test_running_jobs_keep_going_when_paused(client: Client) -> None:
    client.enqueue("busy")
    running = client.claim("busy", lease_ms=5000)
    assert running is not None
    client.queue_put("busy", 0, paused=True)
    renewed = client.progress(running, {"pct": 50})  # the lease is kept and renewed
    assert client.complete(renewed).state == "completed"


def test_max_running_per_key_skips_busy_keys(client: Client) -> None:
    first_a = client.enqueue("repos", "a1", concurrency_key="a")
    second_a = client.enqueue("repos", "a2", concurrency_key="a")
    only_b = client.enqueue("repos", "b1", concurrency_key="b")
    no_key = client.enqueue("repos", "free")
    settings = client.queue_put("repos", 0, max_running=2, max_running_per_key=1)
    assert settings.counts == {"pending": 4}

    got_a = client.claim("repos")
    got_b = client.claim("repos")  # a2 is passed over: key a is at its limit
    assert (got_a and got_a.id, got_b and got_b.id) == (first_a.id, only_b.id)
    assert client.claim("repos") is None  # max_running 2, though "free" is pending
    assert client.last_retry_after_ms is None
    assert client.queue_get("repos").counts == {"pending": 2, "running": 2}

    client.queue_put("repos", settings, max_running=None)
    got_free = client.claim("repos")  # a job without a key is not held by the per-key cap
    assert got_free is not None and got_free.id == no_key.id and got_free.concurrency_key is None
    assert client.claim("repos") is None  # only a2 is left, and key a is still busy

    assert got_a is not None
    client.complete(got_a)
    got_a2 = client.claim("repos")
    assert got_a2 is not None and got_a2.id == second_a.id


def test_a_full_rate_window_says_when_to_come_back(client: Client) -> None:
    client.enqueue_many([{"queue": "api"}, {"queue": "api"}])
    client.queue_put("api", 0, rate=(1, 60000))
    assert client.claim("api") is not None and client.last_retry_after_ms is None
    assert client.claim("api") is None
    hint = client.last_retry_after_ms
    assert isinstance(hint, int) and 1 <= hint <= 60000
    # The hint belongs to the claim that got it: the next claim replaces it.
    assert client.claim("elsewhere") is None and client.last_retry_after_ms is None
    # A claim over several queues is held back by the full one too.
    assert client.claim(["elsewhere", "api"]) is None and client.last_retry_after_ms is not None
    # A claim that waits is never answered with a hint: it waited through the window.
    assert client.claim("api", wait_ms=50) is None and client.last_retry_after_ms is None


def test_the_hint_is_per_thread(client: Client) -> None:
    client.queue_put("solo", 0, rate=(1, 60000))
    client.enqueue("solo")
    assert client.claim("solo") is not None
    assert client.claim("solo") is None and client.last_retry_after_ms is not None
    seen: Dict[str, Optional[int]] = {}
    thread = threading.Thread(target=lambda: seen.update(other=client.last_retry_after_ms))
    thread.start()
    thread.join()
    assert seen["other"] is None  # another thread made no claim
    assert client.last_retry_after_ms is not None


def test_a_waiting_claim_is_woken_by_resume_and_by_a_finished_job(daemon: Daemon) -> None:
    with Client(daemon.socket) as operator, Client(daemon.socket) as worker:
        operator.enqueue("gpu")
        settings = operator.queue_put("gpu", 0, paused=True)
        woken: Dict[str, Any] = {}

        def claim() -> None:
            started = time.monotonic()
            woken["job"] = worker.claim("gpu", wait_ms=10000)
            woken["after"] = time.monotonic() - started

        waiter = threading.Thread(target=claim)
        waiter.start()
        time.sleep(0.3)
        assert "job" not in woken  # still held back by the pause
        settings = operator.queue_put("gpu", settings, paused=False, max_running=1)
        waiter.join(10)
        job = woken["job"]
        assert isinstance(job, Job) and woken["after"] < 5

        operator.enqueue("gpu")
        waiter = threading.Thread(target=claim)
        woken.clear()
        waiter.start()
        time.sleep(0.3)
        assert "job" not in woken  # max_running 1, and one job runs
        operator.complete(job)
        waiter.join(10)
        assert isinstance(woken["job"], Job) and woken["after"] < 5


def test_async_queue_ops(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            assert (await client.queue_get("a")).version == 0
            made = await client.queue_put("a", 0, rate=(1, 60000), max_running_per_key=2)
            assert isinstance(made, Queue) and made.rate == {"max": 1, "per_ms": 60000}
            with pytest.raises(StaleVersion) as stale:
                await client.queue_put("a", 0, paused=True)
            assert stale.value.queue == {"name": "a", "version": 1}
            job = await client.enqueue("a", concurrency_key="k")
            assert job.concurrency_key == "k"
            claimed = await client.claim("a")
            assert claimed is not None and client.last_retry_after_ms is None
            assert await client.claim("a") is None
            assert client.last_retry_after_ms is not None and client.last_retry_after_ms >= 1
            cleared = await client.queue_put("a", made, rate=None)
            assert cleared.rate is None and cleared.max_running_per_key == 2
            assert [q.name for q in await client.queue_list()] == ["a"]

    asyncio.run(asyncio.wait_for(main(), 30))
