"""The asyncio client: the same ops, pipelined on one connection."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, List

import pytest
from conftest import Daemon

from docket_client import AsyncClient, CannotConnect, Event, Job, NotFound, StaleVersion, UnknownOp


def run(factory: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(factory(), 30))


def test_async_ops(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            assert (await client.hello())["protocol"] == 1
            job = await client.enqueue("a", {"x": 1}, unique_key="u")
            assert isinstance(job, Job) and job.created is True
            assert (await client.enqueue("a", unique_key="u")).created is False
            claimed = await client.claim("a", lease_ms=5000)
            assert claimed is not None and claimed.state == "running"
            renewed = await client.progress(claimed, 50)
            done = await client.complete(renewed, "ok")
            assert (done.state, done.result, done.version) == ("completed", "ok", 4)
            read = await client.get(job, events=True)
            assert read.events is not None and read.events[-1].type == "completed"
            assert [j.id for j in await client.list("a")] == [job.id]
            with pytest.raises(NotFound):
                await client.get(12345)
            with pytest.raises(UnknownOp):
                await client.call("frobnicate")
            raw = await client.request_line(b"not json")
            assert raw["error"]["code"] == "bad_request"

    run(main)


def test_async_requests_are_pipelined(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            jobs = await asyncio.gather(*(client.enqueue("p", {"i": i}) for i in range(50)))
            # Each caller got its own answer: the payloads match the requests.
            assert [j.payload["i"] for j in jobs] == list(range(50))
            assert sorted(j.id for j in jobs) == list(range(1, 51))
            stats = await client.stats()
            assert stats["connections"] == 1

    run(main)


def test_async_stale_worker(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as old, AsyncClient(daemon.socket) as new:
            await old.enqueue("w")
            held = await old.claim("w", lease_ms=100)
            assert held is not None
            taken = await new.claim("w", wait_ms=5000)
            assert taken is not None and taken.version == held.version + 2
            with pytest.raises(StaleVersion) as caught:
                await old.complete(held)
            assert caught.value.job is not None and caught.value.job.version == taken.version

    run(main)


def test_async_cancelled_call_keeps_the_connection_in_step(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as client:
            waiting = asyncio.ensure_future(client.claim("empty", wait_ms=300))
            await asyncio.sleep(0.05)
            waiting.cancel()
            # The claim's answer (job null) still arrives first and is discarded.
            assert (await client.enqueue("other")).queue == "other"

    run(main)


def test_async_watch_and_restart(daemon: Daemon) -> None:
    async def main() -> List[Event]:
        async with AsyncClient(daemon.socket) as client:
            seen: List[Event] = []
            async with client.watch(queue="aw", since=0) as watch:
                await watch.start()
                for _ in range(3):
                    await client.enqueue("aw")
                async for event in watch:
                    seen.append(event)
                    if len(seen) == 3:
                        break
                daemon.restart()  # cuts the watch's connection and the client's
                for _ in range(3):
                    await client.enqueue("aw")
                async for event in watch:
                    seen.append(event)
                    if len(seen) == 6:
                        break
            return seen

    events = run(main)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.type for e in events} == {"enqueued"}


def test_async_cannot_connect() -> None:
    async def main() -> None:
        with pytest.raises(CannotConnect):
            await AsyncClient("/tmp/no-such-dir/docket.sock").ping()

    run(main)
