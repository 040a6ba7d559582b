"""The blocking client: one method per op, on one connection, safe to share between
threads (requests on it take turns)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Type, TypeVar, Union

from . import _ops
from ._connection import Connection
from ._ops import Call, FieldNames, Rate
from ._watch import Watch
from ._wire import UNSET, JobLike, NotSent, Unset
from .errors import (
    CannotConnect,
    ConnectionClosed,
    DocketError,
    Forbidden,
    ShuttingDown,
    TooLarge,
    error_from_answer,
)
from .paths import default_socket_path
from .reconnect import ReconnectPolicy
from .records import Job, Page, Queue, Schedule

if TYPE_CHECKING:
    from .worker import WorkerReport

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """A blocking client of ``docketd``.

    It connects on the first request (``connect()`` does it at once, to report a missing
    daemon early) and reconnects after a drop, resending only what is safe to send twice
    (see ``ReconnectPolicy``). Refusals raise the ``DocketError`` subclass of their code.

    A ``claim`` with ``wait_ms`` holds back every later answer on the connection, so a
    worker that long-polls should have a ``Client`` of its own; ``run_worker`` gives each
    of its threads one.
    """

    def __init__(
        self, socket: Optional[str] = None, *, reconnect: ReconnectPolicy = ReconnectPolicy.STANDARD
    ) -> None:
        #: The daemon's socket: the argument, else where the ``docket`` CLI would look.
        self.socket_path: str = socket or default_socket_path()
        self.reconnect = reconnect
        self._lock = threading.RLock()
        self._conn: Optional[Connection] = None
        # Per thread: a client shared by threads must not hand one thread another's hint.
        self._claims = threading.local()
        # A first connection that fails means no daemon: report it at once. After one
        # succeeded, a failure is more likely a restart, worth riding out.
        self._has_connected = False

    # -- lifecycle ------------------------------------------------------------------

    def connect(self) -> "Client":
        """Connect now rather than on the first request; returns the client."""
        with self._lock:
            self._current()
        return self

    def close(self) -> None:
        """Close the connection; a later request opens a new one."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Client(%r)" % (self.socket_path,)

    # -- low level ------------------------------------------------------------------

    def request(self, message: Mapping[str, Any]) -> Dict[str, Any]:
        """Send one request object as is and return the answer object as is, refusals
        included (``{"ok": false, ...}`` is returned, not raised). Nothing is resent:
        this is the protocol without the client's help, for tests and for members or ops
        this client does not know yet."""
        with self._lock:
            conn = self._current()
            try:
                conn.send(message)
                return conn.read_answer()
            finally:
                self._forget_if_done(conn)

    def request_line(self, line: Union[bytes, str]) -> Dict[str, Any]:
        """Send bytes as the daemon's line reader sees them (a ``\\n`` is added) and return
        the next answer: for malformed input that ``request`` could never produce."""
        data = line.encode("utf-8") if isinstance(line, str) else bytes(line)
        with self._lock:
            conn = self._current()
            try:
                conn.send_bytes(data + b"\n")
                return conn.read_answer()
            finally:
                self._forget_if_done(conn)

    def call(self, op: str, **members: Any) -> Dict[str, Any]:
        """Any op by name, for ops newer than this client: returns the ``ok`` answer,
        raises the refusal, and never resends (it cannot know whether ``op`` changes
        anything). ``None`` members are left out."""
        return self._run(Call(_ops.request(op, members), lambda answer: answer))

    # -- hello, ping ----------------------------------------------------------------

    def hello(self, client: Optional[str] = None) -> Dict[str, Any]:
        """The daemon's name, version, ``protocol`` (1), ``limits`` and ``store``."""
        return self._run(_ops.hello(client))

    def ping(self) -> None:
        """Check that the daemon answers."""
        self._run(_ops.ping())

    # -- enqueue --------------------------------------------------------------------

    def enqueue(
        self,
        queue: str,
        payload: Any = None,
        *,
        priority: Optional[int] = None,
        run_at: Optional[Union[str, datetime]] = None,
        delay_ms: Optional[int] = None,
        max_attempts: Optional[int] = None,
        backoff: Optional[Mapping[str, int]] = None,
        unique_key: Optional[str] = None,
        concurrency_key: Optional[str] = None,
        after: Optional[Sequence[Union[int, Job]]] = None,
        timeout_ms: Optional[int] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
        fields: FieldNames = None,
        **extra: Any,
    ) -> Job:
        """Add a job; returns it with ``created`` set.

        With ``unique_key`` the call is safe to repeat (it is resent after a drop): a
        stored job of that queue and key is returned instead, with ``created`` False.

        ``after`` (ids or ``Job``s) makes the job wait until all of those jobs completed
        (``Job.waiting_for`` lists what it still waits for); if one fails or is cancelled
        the job is cancelled, with ``last_error["code"] == "dependency_failed"``. An id
        that does not exist raises ``NotFound`` and nothing is enqueued. ``timeout_ms``
        ends any attempt that runs longer, from its claim, as a failure with code
        ``timeout``. ``traceparent``/``tracestate`` (W3C Trace Context) travel with the
        job to its worker. ``extra`` passes members newer than this client through
        unchanged.
        """
        return self._run(
            _ops.enqueue(
                fields,
                queue=queue,
                payload=payload,
                priority=priority,
                run_at=run_at,
                delay_ms=delay_ms,
                max_attempts=max_attempts,
                backoff=backoff,
                unique_key=unique_key,
                concurrency_key=concurrency_key,
                after=after,
                timeout_ms=timeout_ms,
                traceparent=traceparent,
                tracestate=tracestate,
                extra=extra,
            )
        )

    def enqueue_many(self, jobs: Sequence[Mapping[str, Any]], *, fields: FieldNames = None) -> List[Job]:
        """``enqueue`` with ``jobs``: up to 1000 jobs (each a mapping of the members of
        one job, with its own ``queue``) stored all or none, in order.

        An item may name earlier items of the list it waits for, by index, with
        ``"after_index": [0, ...]`` (and stored jobs with ``"after"``), so a whole
        pipeline goes in at once::

            download, transcode, publish = docket.enqueue_many([
                {"queue": "media", "payload": {"step": "download"}},
                {"queue": "media", "payload": {"step": "transcode"}, "after_index": [0]},
                {"queue": "media", "payload": {"step": "publish"}, "after_index": [1]},
            ])
        """
        return self._run(_ops.enqueue_many(jobs, fields))

    # -- the worker's ops -----------------------------------------------------------

    def claim(
        self,
        queue_or_queues: Union[str, Sequence[str]],
        *,
        lease_ms: Optional[int] = None,
        wait_ms: Optional[int] = None,
        worker: Optional[str] = None,
        fields: FieldNames = None,
    ) -> Optional[Job]:
        """Lease the best eligible job of one queue or several, or ``None`` when none
        became eligible within ``wait_ms``. Never resent: a lost answer may have leased a
        job (the daemon takes it back when it cannot deliver the answer).

        Queues' settings (a pause, running caps, rates) hold jobs back. When a claim
        without ``wait_ms`` returns ``None`` because a rate window is full,
        ``last_retry_after_ms`` says in how many ms to try again."""
        self._claims.retry_after_ms = None
        call = _ops.claim(queue_or_queues, lease_ms, wait_ms, worker, fields, self._note_retry_after)
        return self._run(call)

    @property
    def last_retry_after_ms(self) -> Optional[int]:
        """The ``retry_after_ms`` of the last ``claim`` this thread made through this
        client: when it returned ``None`` and a queue's rate window was full, the ms until
        that window lets a claim through. ``None`` after any other claim: one that got a
        job, one that waited (``wait_ms``), one that found nothing but empty, paused or
        capped queues. A hint, not a reservation: another worker may take the place first.
        """
        return getattr(self._claims, "retry_after_ms", None)

    def _note_retry_after(self, value: Optional[int]) -> None:
        self._claims.retry_after_ms = value

    def progress(
        self,
        job: JobLike,
        progress: Any = UNSET,
        *,
        lease_ms: Optional[int] = None,
        fields: FieldNames = None,
    ) -> Job:
        """Renew the lease and, if given, store ``progress`` (``None`` clears it; leave it
        out to keep the stored value). Continue with the returned job."""
        return self._run(_ops.progress(job, progress, lease_ms, fields))

    def complete(self, job: JobLike, result: Any = None, *, fields: FieldNames = None) -> Job:
        """Finish the job with ``result``. ``StaleVersion`` means the job was lost (lease
        ran out, cancelled) and someone else owns it now: drop it."""
        return self._run(_ops.complete(job, result, fields))

    def fail(
        self,
        job: JobLike,
        error: Any = None,
        *,
        retry: bool = True,
        retry_in_ms: Optional[int] = None,
        fields: FieldNames = None,
    ) -> Job:
        """Report a failed attempt: back to ``pending`` after the backoff (or
        ``retry_in_ms``) while attempts remain and ``retry`` is true, else ``failed``."""
        return self._run(_ops.fail(job, error, retry, retry_in_ms, fields))

    def snooze(self, job: JobLike, delay_ms: int, *, fields: FieldNames = None) -> Job:
        """Not now: put a running job back to ``pending`` for ``delay_ms`` (0: eligible at
        once) without counting the attempt (``attempt`` goes back down by one). The job is
        no longer yours: drop it. ``InvalidState`` unless it is running."""
        return self._run(_ops.snooze(job, delay_ms, fields))

    def log(self, job: JobLike, text: str, stream: str = "stdout", *, fields: FieldNames = None) -> Job:
        """Append ``text`` to a running job's log, as written to ``stream`` (``"stdout"``
        or ``"stderr"``). Fenced like a change, but the version does not change: the
        returned job has the same version, so go on with it (or the one you had). The
        daemon keeps the newest 1 MiB of log per job. ``StaleVersion`` or
        ``InvalidState`` when the job is no longer yours to run."""
        return self._run(_ops.log(job, text, stream, fields))

    # -- the operator's ops ---------------------------------------------------------

    def cancel(self, job: JobLike, *, fields: FieldNames = None) -> Job:
        """Cancel a pending or running job; its worker learns it from ``StaleVersion``."""
        return self._run(_ops.cancel(job, fields))

    def retry(self, job: JobLike, *, fields: FieldNames = None) -> Job:
        """Make a failed or cancelled job pending again, with ``attempt`` back to 0."""
        return self._run(_ops.retry(job, fields))

    # -- reads ----------------------------------------------------------------------

    def get(
        self,
        job: Union[int, Job],
        *,
        events: bool = False,
        logs: bool = False,
        fields: FieldNames = None,
    ) -> Job:
        """The job as stored now; with ``events`` its history is on ``Job.events``.

        ``logs=True`` (which implies ``events``) keeps the job's log lines among the events
        (type ``log``; ``Job.log_text()`` joins them) and sets ``Job.log_dropped_bytes``:
        how much older log the daemon dropped to keep 1 MiB. Without it, log events are
        left out."""
        return self._run(_ops.get(job, events, logs, fields))

    def list(
        self,
        queue: Optional[str] = None,
        *,
        state: Optional[str] = None,
        limit: Optional[int] = None,
        after: Optional[int] = None,
        fields: FieldNames = None,
    ) -> Page:
        """One page of jobs in id order; pass ``page.next`` as ``after`` for the next."""
        return self._run(_ops.list_jobs(queue, state, limit, after, fields))

    def stats(self) -> Dict[str, Any]:
        """Job counts by queue and state, connections, waiting claims, uptime."""
        return self._run(_ops.stats())

    def watch(
        self,
        job: Optional[Union[int, Job]] = None,
        queue: Optional[str] = None,
        *,
        since: Optional[int] = None,
        logs: bool = False,
    ) -> Watch:
        """Iterate over the events of a job, a queue, or everything, as they are recorded.

        The watch has a connection of its own. When it drops, or the daemon cuts off a
        watcher that fell behind (``watch_overflow``), it reconnects and resumes after the
        last event it yielded: no event is lost or repeated. A job's watch ends after the
        job's final event. Log lines (events of type ``log``) come only with ``logs=True``.
        Without ``since`` it starts with the events recorded after the watch is accepted (on the first ``next()``, or ``Watch.start()``).
        """
        return Watch(
            self.socket_path, self.reconnect, _ops.watch_request(job, queue, since, logs), job is not None
        )

    # -- schedules ------------------------------------------------------------------

    def schedule_put(
        self,
        name: str,
        cron: str,
        queue: str,
        version: Union[int, Schedule],
        *,
        payload: Any = None,
        priority: Optional[int] = None,
        max_attempts: Optional[int] = None,
        paused: Optional[bool] = None,
    ) -> Schedule:
        """Create (``version`` 0) or replace (the ``Schedule`` last read, or its version)
        a schedule. Members left out take their defaults, not their stored values."""
        return self._run(
            _ops.schedule_put(name, cron, queue, version, payload, priority, max_attempts, paused)
        )

    def schedule_get(self, name: str) -> Schedule:
        """The stored schedule."""
        return self._run(_ops.schedule_get(name))

    def schedule_delete(self, name: str, version: Union[int, Schedule]) -> None:
        """Delete the schedule if it is still at ``version``; its jobs stay."""
        self._run(_ops.schedule_delete(name, version))

    def schedule_list(self) -> List[Schedule]:
        """Every schedule, by name."""
        return self._run(_ops.schedule_list())

    # -- maintenance ----------------------------------------------------------------

    def purge(
        self,
        *,
        queue: Optional[str] = None,
        state: Optional[str] = None,
        before: Optional[Union[str, datetime]] = None,
        limit: Optional[int] = None,
    ) -> int:
        """Delete finished jobs with their history; returns how many. Repeat until 0 to
        delete more than ``limit``."""
        return self._run(_ops.purge(queue, state, before, limit))

    def backup(self, path: str) -> Dict[str, Any]:
        """Have the daemon write a consistent copy of its database to ``path`` (absolute,
        in the daemon's view, not existing yet); returns ``path`` and ``bytes``."""
        return self._run(_ops.backup(path))

    # -- queues ---------------------------------------------------------------------

    def queue_put(
        self,
        queue: str,
        version: Union[int, Queue],
        *,
        paused: Union[bool, Unset] = UNSET,
        max_running: Union[int, None, Unset] = UNSET,
        max_running_per_key: Union[int, None, Unset] = UNSET,
        rate: Union[Rate, None, Unset] = UNSET,
    ) -> Queue:
        """Store or change a queue's settings: ``version`` 0 the first time, else the
        ``Queue`` last read (or its version); a change made meanwhile by someone else
        raises ``StaleVersion``, whose ``.queue`` says where the settings are now.

        Only the settings given are sent; the others keep their stored value. ``None``
        lifts a limit (``max_running``, ``max_running_per_key``, ``rate``). ``rate`` is
        ``{"max": n, "per_ms": ms}`` or the pair ``(n, ms)``: at most ``n`` claims of the
        queue in any ``ms`` milliseconds. Returns the queue as stored, one version up."""
        return self._run(_ops.queue_put(queue, version, paused, max_running, max_running_per_key, rate))

    def queue_get(self, queue: str) -> Queue:
        """A queue's settings and job counts; any name is answered (version 0 and the
        defaults when no settings were ever stored)."""
        return self._run(_ops.queue_get(queue))

    def queue_list(self) -> List[Queue]:
        """Every queue that holds jobs or has stored settings, by name."""
        return self._run(_ops.queue_list())

    def metrics(self) -> str:
        """The daemon's metrics in Prometheus text format."""
        return self._run(_ops.metrics())

    # -- worker ---------------------------------------------------------------------

    def run_worker(
        self,
        queue: Union[str, Sequence[str]],
        handler: Callable[[Job], Any],
        *,
        lease_ms: int = 30000,
        concurrency: int = 1,
        wait_ms: int = 30000,
        worker: Optional[str] = None,
        grace: Optional[float] = None,
        handle_signals: bool = True,
    ) -> "WorkerReport":
        """Work the queue until SIGTERM or SIGINT (or ``Worker.stop()``); see ``Worker``."""
        from .worker import Worker  # imported here: the worker builds on this module

        return Worker(
            self,
            queue,
            handler,
            lease_ms=lease_ms,
            concurrency=concurrency,
            wait_ms=wait_ms,
            worker=worker,
            grace=grace,
            handle_signals=handle_signals,
        ).run()

    # -- plumbing -------------------------------------------------------------------

    def _current(self) -> Connection:
        """The open connection; one the daemon closed meanwhile (a restart) is replaced
        before anything is written to it. Call with the lock held."""
        conn = self._conn
        if conn is not None and conn.looks_dead():
            self._forget(conn)
            conn = None
        if conn is None:
            conn = Connection(self.socket_path)
            self._conn = conn
            self._has_connected = True
        return conn

    def _forget(self, conn: Connection) -> None:
        conn.close()
        if self._conn is conn:
            self._conn = None

    def _forget_if_done(self, conn: Connection) -> None:
        if conn.closed or conn.aborted:
            self._forget(conn)

    def _abort(self) -> None:
        """Cut the connection under a request in flight, from any thread (the worker's
        stop uses it to end a waiting ``claim``). The request then raises
        ``ConnectionClosed`` unless its answer had already arrived."""
        conn = self._conn
        if conn is not None:
            conn.abort()

    def _run(self, call: Call[T], interrupted: Optional[Callable[[], bool]] = None) -> T:
        """Send a call and read its answer, riding out restarts as the policy allows."""
        attempts = self.reconnect.attempts()
        while True:
            error: DocketError
            with self._lock:
                try:
                    conn = self._current()
                except CannotConnect as exc:
                    if not self._has_connected:
                        raise
                    error = exc  # nothing was sent: any request may go again
                else:
                    if interrupted is not None and interrupted():
                        raise ConnectionClosed("the request was withdrawn before it was sent", call.op)
                    try:
                        conn.send(call.request)
                    except NotSent as exc:
                        self._forget(conn)
                        error = exc  # nothing reached the daemon: safe to send again
                    else:
                        try:
                            answer = conn.read_answer()
                        except ConnectionClosed as exc:
                            self._forget(conn)
                            if not call.resendable:
                                exc.op = call.op
                                raise
                            error = exc
                        else:
                            self._forget_if_done(conn)
                            if answer.get("ok") is True:
                                return call.read(answer)
                            error = error_from_answer(answer, call.op)
                            if isinstance(error, (TooLarge, Forbidden, ShuttingDown)):
                                self._forget(conn)  # the daemon closes it after these
                            if not isinstance(error, ShuttingDown):
                                raise error
            # A restart, or a daemon draining: nothing was applied, so try again.
            delay = attempts.next_delay()
            if delay is None:
                raise error
            time.sleep(delay)
