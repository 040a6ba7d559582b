"""watch(): every event exactly once, across dropped connections, daemon restarts and
watch_overflow cut-offs."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest
from conftest import Daemon

from docket_client import BadRequest, Client, Event


def seqs(events: List[Event]) -> List[int]:
    return [e.seq for e in events]


def take(watch: "object", count: int) -> List[Event]:
    events: List[Event] = []
    for event in watch:  # type: ignore[attr-defined]
        events.append(event)
        if len(events) == count:
            break
    return events


def test_a_job_watch_ends_with_the_final_event(client: Client) -> None:
    job = client.enqueue("j")
    with client.watch(job=job, since=0) as watch:
        claimed = client.claim("j")
        assert claimed is not None
        client.complete(client.progress(claimed, 1))
        events = list(watch)  # stops by itself
    assert [e.type for e in events] == ["enqueued", "claimed", "progress", "completed"]
    assert events[-1].is_final and events[0].job == job.id


def test_without_since_only_later_events_come(client: Client) -> None:
    client.enqueue("w")
    with client.watch(queue="w").start() as watch:
        assert watch.last_seq == 1
        client.enqueue("w")
        (event,) = take(watch, 1)
    assert (event.seq, event.type) == (2, "enqueued")


def test_a_refused_watch_raises(client: Client) -> None:
    with pytest.raises(BadRequest):
        client.watch(queue="").start()
    with pytest.raises(ValueError):
        client.watch(job=1, queue="q")


def test_resume_after_the_connection_is_cut(client: Client) -> None:
    with client.watch(queue="cut") as watch:
        watch.start()
        client.enqueue("cut")
        first = take(watch, 1)
        watch._conn.abort()  # type: ignore[union-attr]  # cut it underneath, as a network would
        for _ in range(3):
            client.enqueue("cut")  # recorded while no connection watches
        rest = take(watch, 3)
        assert watch.reconnects == 1
    assert seqs(first + rest) == [1, 2, 3, 4]


def test_resume_across_daemon_restarts_without_loss_or_duplicate(daemon: Daemon) -> None:
    total = 60
    seen: List[Event] = []
    client = Client(daemon.socket)
    watch = client.watch(queue="r", since=0)
    watch.start()

    def follow() -> None:
        for event in watch:
            seen.append(event)
            if len(seen) == total:
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    for i in range(total):
        client.enqueue("r", {"i": i})
        if i in (15, 40):
            daemon.restart()
    reader.join(20)
    watch.close()
    client.close()
    assert not reader.is_alive(), "only %d of %d events arrived" % (len(seen), total)
    assert seqs(seen) == list(range(1, total + 1))
    assert [e.job for e in seen] == list(range(1, total + 1))
    assert 1 <= watch.reconnects <= 2  # two restarts close together may cost one reconnect


def test_resume_after_watch_overflow(client: Client) -> None:
    """A watcher that stops reading falls over 10,000 events behind and is cut off with
    watch_overflow; the watch resumes after the last event it yielded."""
    batches = 13
    with client.watch(queue="flood") as watch:
        watch.start()
        client.enqueue("flood")
        assert seqs(take(watch, 1)) == [1]
        for _ in range(batches):  # the watch reads nothing meanwhile
            client.enqueue_many([{"queue": "flood"}] * 1000)
        deadline = time.monotonic() + 30
        events = take(watch, batches * 1000)
        assert time.monotonic() < deadline
        assert watch.reconnects >= 1, "the daemon never cut the watcher off"
    assert seqs(events) == list(range(2, batches * 1000 + 2))
