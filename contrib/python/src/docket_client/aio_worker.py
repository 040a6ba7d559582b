"""The worker loop on asyncio tasks: the twin of ``worker.Worker``.

Each task has a connection of its own (a waiting claim holds back every later answer on
its connection). A renewal task per running job keeps the lease alive and the held
``Job`` at its newest version. Renewals are never cancelled in the middle of a request:
an answer lost that way could leave the job renewed at a version the worker never saw,
and its ``complete`` would then be refused as stale.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Union

from . import _ops
from .aio import AsyncClient
from .errors import DocketError
from .records import Job
from .worker import LOST, TRANSIENT, WorkerReport, error_info

__all__ = ["AsyncWorker"]

log = logging.getLogger("docket_client.worker")


class _Held:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.lock = asyncio.Lock()
        self.settled = False


class _Slot:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.claiming = False
        self.held: Optional[_Held] = None


class AsyncWorker:
    """Runs ``handler(job)`` for the jobs of a queue until stopped; see ``Worker`` for
    what happens to results, exceptions, stops and ``grace``. ``handler`` may be a
    coroutine function, or a plain function, which then runs in a thread."""

    def __init__(
        self,
        client: AsyncClient,
        queue: Union[str, Sequence[str]],
        handler: Callable[[Job], Any],
        *,
        lease_ms: int = 30000,
        concurrency: int = 1,
        wait_ms: int = 30000,
        worker: Optional[str] = None,
        grace: Optional[float] = None,
        handle_signals: bool = True,
        renew_every: Optional[float] = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1, not %r" % (concurrency,))
        self._client = client
        self._queue = queue
        self._handler = handler
        self._lease_ms = lease_ms
        self._concurrency = concurrency
        self._wait_ms = wait_ms
        self._worker = worker
        self._grace = grace
        self._handle_signals = handle_signals
        self._renew_every = renew_every if renew_every is not None else lease_ms / 3000.0
        self._stop_event: Optional[asyncio.Event] = None
        self._stop_requested = False
        self._stopped_at: Optional[float] = None
        self._slots: List[_Slot] = []
        self._failure: Optional[BaseException] = None
        self.report = WorkerReport()

    # -- control --------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming and finish. Call it on the event loop's thread (from elsewhere:
        ``loop.call_soon_threadsafe(worker.stop)``)."""
        self._stop_requested = True
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
        if self._stop_event is not None:
            self._stop_event.set()
        for slot in self._slots:
            if slot.claiming:
                slot.client._abort()

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    async def run(self) -> WorkerReport:
        """Work until stopped, then return what was done; re-raises the first error a
        task could not handle."""
        self._stop_event = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        previous = self._install_signals(asyncio.get_running_loop())
        tasks: Set["asyncio.Task[None]"] = set()
        try:
            for _ in range(self._concurrency):
                slot = _Slot(AsyncClient(self._client.socket_path, reconnect=self._client.reconnect))
                self._slots.append(slot)
                tasks.add(asyncio.ensure_future(self._loop(slot)))
            await self._wait(tasks)
        finally:
            self._restore_signals(previous)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for slot in self._slots:
                await slot.client.close()
        if self._failure is not None:
            raise self._failure
        return self.report

    # -- one task -------------------------------------------------------------------

    async def _loop(self, slot: _Slot) -> None:
        assert self._stop_event is not None
        attempts = slot.client.reconnect.attempts()
        try:
            while not self._stop_requested:
                slot.claiming = True
                try:
                    job = await slot.client._run(
                        _ops.claim(self._queue, self._lease_ms, self._wait_ms, self._worker, None),
                        interrupted=lambda: self._stop_requested,
                    )
                except TRANSIENT as exc:
                    if self._stop_requested:
                        return
                    delay = attempts.next_delay()
                    if delay is None:
                        attempts = slot.client.reconnect.attempts()
                        delay = slot.client.reconnect.max_delay
                    log.warning("claim on %r failed (%s); trying again in %.2fs", self._queue, exc, delay)
                    try:
                        await asyncio.wait_for(self._stop_event.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
                    continue
                finally:
                    slot.claiming = False
                attempts = slot.client.reconnect.attempts()
                if job is not None:
                    await self._work(slot, job)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.error("worker task stopped: %s", exc)
            if self._failure is None:
                self._failure = exc
            self.stop()

    async def _work(self, slot: _Slot, job: Job) -> None:
        held = _Held(job)
        slot.held = held
        done = asyncio.Event()
        renewer = asyncio.ensure_future(self._renew(slot.client, held, done))
        try:
            try:
                result = await self._call_handler(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome, value = "fail", error_info(exc)
                log.info("job %s failed: %s: %s", job.id, type(exc).__name__, exc)
            else:
                outcome, value = "complete", result
            done.set()
            await renewer  # lets a renewal in flight finish, so the version is current
            await self._settle(slot.client, held, outcome, value)
        finally:
            done.set()
            slot.held = None

    async def _call_handler(self, job: Job) -> Any:
        if inspect.iscoroutinefunction(self._handler):
            return await self._handler(job)
        result = await asyncio.get_running_loop().run_in_executor(None, self._handler, job)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _renew(self, client: AsyncClient, held: _Held, done: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(done.wait(), self._renew_every)
                return
            except asyncio.TimeoutError:
                pass
            async with held.lock:
                if held.settled or done.is_set():
                    return
                try:
                    held.job = await client.progress(held.job, lease_ms=self._lease_ms)
                except LOST as exc:
                    log.warning(
                        "job %s was lost while running (%s); its result will be dropped", held.job.id, exc
                    )
                    return
                except DocketError as exc:
                    log.warning("renewing the lease of job %s failed (%s); trying again", held.job.id, exc)

    async def _settle(self, client: AsyncClient, held: _Held, outcome: str, value: Any) -> None:
        async with held.lock:
            if held.settled:
                return
            held.settled = True
            try:
                if outcome == "complete":
                    try:
                        await client.complete(held.job, value)
                    except (TypeError, ValueError) as exc:  # the result is not JSON
                        outcome = "fail"
                        await client.fail(held.job, error_info(exc))
                else:
                    await client.fail(held.job, value)
            except LOST as exc:
                log.warning("job %s was lost before it was settled: %s", held.job.id, exc)
                self.report.lost += 1
                return
            except DocketError as exc:
                log.error("settling job %s failed: %s", held.job.id, exc)
                self.report.lost += 1
                return
            if outcome == "complete":
                self.report.completed += 1
            else:
                self.report.failed += 1

    # -- stopping -------------------------------------------------------------------

    async def _wait(self, tasks: Set["asyncio.Task[None]"]) -> None:
        assert self._stop_event is not None
        stop_waiter = asyncio.ensure_future(self._stop_event.wait())
        pending = set(tasks)
        try:
            while pending:
                if self._stop_requested and self._grace is not None and self._stopped_at is not None:
                    left = self._stopped_at + self._grace - time.monotonic()
                    _, pending = await asyncio.wait(pending, timeout=max(0.0, left))
                    if pending:
                        await self._hand_back()
                    return
                await asyncio.wait(pending | {stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                pending = {task for task in pending if not task.done()}
        finally:
            stop_waiter.cancel()

    async def _hand_back(self) -> None:
        for slot in self._slots:
            held = slot.held
            if held is None:
                continue
            async with held.lock:
                if held.settled:
                    continue
                held.settled = True
                error = {"type": "WorkerStopped", "message": "the worker stopped before the handler finished"}
                try:
                    async with AsyncClient(
                        self._client.socket_path, reconnect=self._client.reconnect
                    ) as client:
                        await client.fail(held.job, error, retry_in_ms=0)
                except DocketError as exc:
                    log.warning("handing back job %s failed: %s", held.job.id, exc)
                    self.report.lost += 1
                    continue
                self.report.handed_back += 1

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> Dict[int, Any]:
        # signal.signal rather than loop.add_signal_handler: it hands back the previous
        # handler, which is restored when the worker returns.
        if not self._handle_signals or threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            log.info("signal %d: stopping after the jobs in hand", signum)
            loop.call_soon_threadsafe(self.stop)

        previous: Dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
        return previous

    def _restore_signals(self, previous: Dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
