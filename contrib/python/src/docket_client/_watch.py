"""Following a watch across reconnects, without losing or repeating an event.

The daemon replays the stored events after ``since`` and then streams live ones, with no
gap and no duplicate. So a watch that remembers the seq of the last event it handed out,
and asks again with ``since`` set to it after any drop (or a ``watch_overflow``
cut-off), delivers every event exactly once. ``WatchState`` is that memory, shared by the
blocking ``Watch`` here and the asyncio ``AsyncWatch``.
"""

from __future__ import annotations

import time
from collections import deque
from types import TracebackType
from typing import Any, Deque, Dict, Iterator, Mapping, Optional, Type, Union

from ._connection import Connection
from ._wire import is_unsolicited
from .errors import (
    CannotConnect,
    ConnectionClosed,
    InvalidResponse,
    ShuttingDown,
    Unavailable,
    error_from_answer,
)
from .reconnect import ReconnectPolicy
from .records import Event

__all__ = ["Watch", "WatchState", "RESUME", "RETRYABLE"]


class _Resume:
    """Returned by ``WatchState.take`` for a cut-off: reconnect and resume."""


RESUME = _Resume()

#: Failures after which a watch opens again: the daemon restarting, draining or briefly
#: without its store. Anything else (a refusal of the watch itself) is raised.
RETRYABLE = (CannotConnect, ConnectionClosed, InvalidResponse, ShuttingDown, Unavailable)


class WatchState:
    """What a watch has delivered so far, and the request that resumes after it."""

    def __init__(self, request: Mapping[str, Any], job_scope: bool) -> None:
        self._request = dict(request)
        since = self._request.get("since")
        #: The seq of the last event delivered (or the ``since``/start point before any).
        self.last_seq: Optional[int] = since if isinstance(since, int) else None
        #: A job watch is over once the job reached a final state.
        self.finished = False
        self._job_scope = job_scope

    def request(self) -> Dict[str, Any]:
        """The watch request for the next connection: the same scope, after ``last_seq``."""
        message = dict(self._request)
        if self.last_seq is not None:
            message["since"] = self.last_seq
        return message

    def started(self, answer: Mapping[str, Any]) -> None:
        """Note the daemon's acceptance. A watch without ``since`` starts at the answer's
        ``seq``; remembering it means a reconnect before the first event still replays
        everything after the original start, not after the reconnect."""
        if answer.get("ok") is not True:
            raise error_from_answer(answer, "watch")
        seq = answer.get("seq")
        if self.last_seq is None and isinstance(seq, int):
            self.last_seq = seq

    def take(self, message: Mapping[str, Any]) -> Union[Event, _Resume, None]:
        """Judge a line that answers no request: an ``Event`` to deliver, ``RESUME`` when
        the daemon cut the watch off, ``None`` for anything already delivered."""
        raw = message.get("event")
        if isinstance(raw, dict):
            seq = raw.get("seq")
            if not isinstance(seq, int):
                raise InvalidResponse("docketd sent an event without a seq: %r" % (dict(message),))
            if self.last_seq is not None and seq <= self.last_seq:
                return None
            self.last_seq = seq
            event = Event(raw)
            if self._job_scope and event.is_final:
                self.finished = True
            return event
        if message.get("ok") is False:
            return RESUME  # watch_overflow: the daemon closes the connection after it
        return None


class Watch(Iterator[Event]):
    """The events of a ``Client.watch``, one ``next()`` at a time.

    Iteration blocks until the next event; it ends after a job watch's final event, after
    ``close()``, or raises when the daemon stays unreachable longer than the client's
    ``ReconnectPolicy`` allows. ``last_seq`` is where to resume in a later process.
    """

    def __init__(
        self, path: str, policy: ReconnectPolicy, request: Mapping[str, Any], job_scope: bool
    ) -> None:
        self._path = path
        self._policy = policy
        self._state = WatchState(request, job_scope)
        self._conn: Optional[Connection] = None
        self._early: Deque[Dict[str, Any]] = deque()
        self._started = False
        self._closed = False
        self._opens = 0
        self._reading = False

    @property
    def reconnects(self) -> int:
        """How many times the watch resumed on a new connection (drops, cut-offs)."""
        return max(0, self._opens - 1)

    @property
    def last_seq(self) -> Optional[int]:
        """The seq of the last event yielded (before any: the start point)."""
        return self._state.last_seq

    def start(self) -> "Watch":
        """Open the watch now: events recorded after this returns are all delivered, so
        read whatever the events are about after calling it, and no change can slip
        between the two. Refusals (``BadRequest``, ``UnknownOp``) raise here."""
        if not self._started:
            self._open()
            self._started = True
        return self

    def __iter__(self) -> "Watch":
        return self

    def __next__(self) -> Event:
        self.start()
        while True:
            if self._state.finished or self._closed:
                self._drop()
                raise StopIteration
            if self._conn is None:
                self._reopen()
                continue
            conn = self._conn
            try:
                if self._early:
                    message = self._early.popleft()
                else:
                    self._reading = True
                    try:
                        message = conn.read_message()
                    finally:
                        self._reading = False
                taken = self._state.take(message)
            except (ConnectionClosed, InvalidResponse):
                self._drop()
                continue
            if taken is RESUME:
                self._drop()
            elif isinstance(taken, Event):
                return taken

    def close(self) -> None:
        """Stop the watch; from another thread it also ends a ``next()`` that waits."""
        self._closed = True
        conn = self._conn
        if conn is None:
            return
        if self._reading:
            conn.abort()  # the reading thread closes it when it wakes
        else:
            self._drop()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Watch(%r, last_seq=%r)" % (self._state.request(), self.last_seq)

    # -- plumbing -------------------------------------------------------------------

    def _open(self) -> None:
        conn = Connection(self._path)
        try:
            conn.send(self._state.request())
            while True:
                message = conn.read_message()
                if not is_unsolicited(message):
                    break
                self._early.append(message)  # judged once the start point is known
            self._state.started(message)
        except BaseException:
            conn.close()
            self._early.clear()
            raise
        self._conn = conn
        self._opens += 1

    def _reopen(self) -> None:
        attempts = self._policy.attempts()
        while True:
            try:
                self._open()
                return
            except RETRYABLE as exc:
                delay = attempts.next_delay()
                if delay is None or self._closed:
                    self._closed = True
                    raise exc
                time.sleep(delay)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._early.clear()
