"""A worker loop on threads: claim, run the handler under a renewed lease, settle.

Each worker thread has a connection of its own, because a claim that waits holds back
every later answer on its connection. While the handler runs, a helper thread renews the
lease with ``progress`` and keeps the held ``Job`` at its newest version, so that the
final ``complete`` or ``fail`` carries the right version and the fence only refuses it
when the job really was lost (lease ran out, cancelled).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _ops
from .client import Client
from .errors import (
    DocketClientError,
    DocketError,
    Internal,
    InvalidState,
    NotFound,
    ShuttingDown,
    StaleVersion,
    Unavailable,
)
from .records import Job

__all__ = ["Worker", "WorkerReport", "error_info"]

log = logging.getLogger("docket_client.worker")

#: Refusals that mean another owner has the job now: drop it, do not touch it again.
LOST = (StaleVersion, NotFound, InvalidState)
#: Claim failures worth waiting out (a restart, a store outage) rather than stopping for.
TRANSIENT = (DocketClientError, ShuttingDown, Unavailable, Internal)


def error_info(exc: BaseException) -> Dict[str, str]:
    """What a failed attempt stores as the job's ``last_error``."""
    return {"type": type(exc).__name__, "message": str(exc)}


@dataclass
class WorkerReport:
    """What a worker did before it returned."""

    #: Jobs the handler finished and the daemon recorded as completed.
    completed: int = 0
    #: Jobs whose handler raised, recorded with ``fail``.
    failed: int = 0
    #: Jobs another owner took over before they were settled (lease ran out, cancelled).
    lost: int = 0
    #: Jobs given back with ``fail`` (retry now) because ``grace`` ran out at a stop.
    handed_back: int = 0


class _Held:
    """A job a worker thread holds: the newest version, and whether it is settled."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.lock = threading.Lock()
        self.settled = False


class _Slot:
    """One worker thread's connection and the job it holds."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.claiming = False
        self.held: Optional[_Held] = None


class Worker:
    """Runs ``handler(job)`` for the jobs of a queue until stopped.

    The handler's return value is the job's ``result``; an exception fails the attempt
    with ``{"type": <class name>, "message": str(exc)}`` (retried while attempts remain).
    ``stop()`` (or SIGTERM/SIGINT, when ``run`` is called on the main thread with
    ``handle_signals``) ends claiming at once (a waiting claim is withdrawn, and the
    daemon puts back a job it could no longer deliver) and lets the running handlers
    finish. With ``grace`` (seconds), handlers still running after it have their jobs
    handed back for another worker to claim now, and ``run`` returns without them.

    The worker owns the job's version while the handler runs (its renewals move it on),
    so a handler must not call ``progress``, ``complete`` or ``fail`` on the job itself.
    """

    def __init__(
        self,
        client: Client,
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
        # A third of the lease leaves two chances to renew before it runs out.
        self._renew_every = renew_every if renew_every is not None else lease_ms / 3000.0
        # Reentrant: stop() may run in a signal handler on a thread that holds it.
        self._state_lock = threading.RLock()
        self._stopping = threading.Event()
        self._stopped_at: Optional[float] = None
        self._slots: List[_Slot] = []
        self._failure: Optional[BaseException] = None
        self._grace_over = False
        self.report = WorkerReport()

    # -- control --------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming and finish; safe from any thread and from a signal handler."""
        with self._state_lock:
            if self._stopped_at is None:
                self._stopped_at = time.monotonic()
            self._stopping.set()
            waiting = [slot for slot in self._slots if slot.claiming]
        for slot in waiting:
            slot.client._abort()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> WorkerReport:
        """Work until stopped, then return what was done. Re-raises the first error a
        worker thread could not handle (a claim the daemon refused, say)."""
        previous = self._install_signals()
        threads = []
        try:
            for index in range(self._concurrency):
                slot = _Slot(Client(self._client.socket_path, reconnect=self._client.reconnect))
                with self._state_lock:
                    self._slots.append(slot)
                thread = threading.Thread(
                    target=self._loop, args=(slot,), name="docket-worker-%d" % index, daemon=True
                )
                threads.append(thread)
                thread.start()
            self._wait(threads)
        finally:
            self._restore_signals(previous)
            for slot in self._slots:
                if slot.held is None:
                    slot.client.close()
        if self._failure is not None:
            raise self._failure
        return self.report

    # -- the loop of one thread -----------------------------------------------------

    def _loop(self, slot: _Slot) -> None:
        attempts = slot.client.reconnect.attempts()
        try:
            while True:
                with self._state_lock:
                    if self._stopping.is_set():
                        return
                    slot.claiming = True
                try:
                    job = slot.client._run(
                        _ops.claim(self._queue, self._lease_ms, self._wait_ms, self._worker, None),
                        interrupted=self._stopping.is_set,
                    )
                except TRANSIENT as exc:
                    if self._stopping.is_set():
                        return
                    delay = attempts.next_delay()
                    if delay is None:
                        attempts = slot.client.reconnect.attempts()
                        delay = slot.client.reconnect.max_delay
                    log.warning("claim on %r failed (%s); trying again in %.2fs", self._queue, exc, delay)
                    self._stopping.wait(delay)
                    continue
                finally:
                    with self._state_lock:
                        slot.claiming = False
                attempts = slot.client.reconnect.attempts()
                if job is not None:
                    self._work(slot, job)
        except BaseException as exc:  # a refused claim, a bug: stop everyone and report
            log.error("worker thread stopped: %s", exc)
            with self._state_lock:
                if self._failure is None:
                    self._failure = exc
            self.stop()

    def _work(self, slot: _Slot, job: Job) -> None:
        held = _Held(job)
        with self._state_lock:
            slot.held = held
            late = self._grace_over
        if late:  # claimed just as the grace period ran out: give it back untouched
            self._give_back(held)
            slot.held = None
            return
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(slot.client, held, done), name="docket-renew-%s" % job.id, daemon=True
        )
        renewer.start()
        try:
            try:
                result = self._handler(job)
            except Exception as exc:
                outcome, value = "fail", error_info(exc)
                log.info("job %s failed: %s: %s", job.id, type(exc).__name__, exc)
            else:
                outcome, value = "complete", result
            done.set()
            renewer.join()
            self._settle(slot.client, held, outcome, value)
        finally:
            done.set()
            slot.held = None

    def _renew(self, client: Client, held: _Held, done: threading.Event) -> None:
        while not done.wait(self._renew_every):
            with held.lock:
                if held.settled or done.is_set():
                    return
                try:
                    held.job = client.progress(held.job, lease_ms=self._lease_ms)
                except LOST as exc:
                    log.warning(
                        "job %s was lost while running (%s); its result will be dropped", held.job.id, exc
                    )
                    return
                except DocketError as exc:
                    log.warning("renewing the lease of job %s failed (%s); trying again", held.job.id, exc)

    def _settle(self, client: Client, held: _Held, outcome: str, value: Any) -> None:
        with held.lock:
            if held.settled:
                return  # handed back at a stop meanwhile
            held.settled = True
            try:
                if outcome == "complete":
                    try:
                        client.complete(held.job, value)
                    except (TypeError, ValueError) as exc:  # the result is not JSON
                        outcome = "fail"
                        client.fail(held.job, error_info(exc))
                else:
                    client.fail(held.job, value)
            except LOST as exc:
                log.warning("job %s was lost before it was settled: %s", held.job.id, exc)
                self._count("lost")
                return
            except DocketError as exc:
                log.error("settling job %s failed: %s", held.job.id, exc)
                self._count("lost")
                return
            self._count("completed" if outcome == "complete" else "failed")

    def _count(self, what: str) -> None:
        with self._state_lock:
            setattr(self.report, what, getattr(self.report, what) + 1)

    # -- stopping -------------------------------------------------------------------

    def _wait(self, threads: List[threading.Thread]) -> None:
        # Joins with a timeout so that the grace period is noticed; signal handlers run
        # in this (main) thread meanwhile.
        while any(t.is_alive() for t in threads):
            stopped_at = self._stopped_at
            if (
                self._grace is not None
                and stopped_at is not None
                and time.monotonic() - stopped_at >= self._grace
            ):
                self._hand_back()
                return
            for thread in threads:
                thread.join(0.05)

    def _hand_back(self) -> None:
        """Give back the jobs whose handlers outlived the grace period, so another worker
        can claim them now rather than after their leases run out."""
        with self._state_lock:
            self._grace_over = True
            held_jobs = [slot.held for slot in self._slots if slot.held is not None]
        for held in held_jobs:
            self._give_back(held)

    def _give_back(self, held: _Held) -> None:
        with held.lock:
            if held.settled:
                return
            held.settled = True
            error = {"type": "WorkerStopped", "message": "the worker stopped before the handler finished"}
            try:
                with Client(self._client.socket_path, reconnect=self._client.reconnect) as client:
                    client.fail(held.job, error, retry_in_ms=0)
            except DocketError as exc:
                log.warning("handing back job %s failed: %s", held.job.id, exc)
                self._count("lost")
                return
            self._count("handed_back")

    def _install_signals(self) -> Dict[int, Any]:
        if not self._handle_signals or threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            log.info("signal %d: stopping after the jobs in hand", signum)
            self.stop()

        previous: Dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
        return previous

    def _restore_signals(self, previous: Dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
