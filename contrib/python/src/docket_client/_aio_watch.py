"""The asyncio twin of ``Watch``: same resume rules (see ``_watch.WatchState``)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, AsyncIterator, Mapping, Optional, Type

from ._aio_connection import AsyncConnection
from ._watch import RESUME, RETRYABLE, WatchState
from .errors import ConnectionClosed, InvalidResponse
from .reconnect import ReconnectPolicy
from .records import Event

__all__ = ["AsyncWatch"]


class AsyncWatch(AsyncIterator[Event]):
    """The events of an ``AsyncClient.watch``, for ``async for``.

    Ends after a job watch's final event or ``aclose()``; raises when the daemon stays
    unreachable longer than the client's ``ReconnectPolicy`` allows.
    """

    def __init__(
        self, path: str, policy: ReconnectPolicy, request: Mapping[str, Any], job_scope: bool
    ) -> None:
        self._path = path
        self._policy = policy
        self._state = WatchState(request, job_scope)
        self._conn: Optional[AsyncConnection] = None
        self._started = False
        self._closed = False
        self._opens = 0

    @property
    def reconnects(self) -> int:
        """How many times the watch resumed on a new connection (drops, cut-offs)."""
        return max(0, self._opens - 1)

    @property
    def last_seq(self) -> Optional[int]:
        """The seq of the last event yielded (before any: the start point)."""
        return self._state.last_seq

    async def start(self) -> "AsyncWatch":
        """Open the watch now; every event recorded after this returns is delivered.
        Refusals (``BadRequest``, ``UnknownOp``) raise here."""
        if not self._started:
            await self._open()
            self._started = True
        return self

    def __aiter__(self) -> "AsyncWatch":
        return self

    async def __anext__(self) -> Event:
        await self.start()
        while True:
            if self._state.finished or self._closed:
                await self._drop()
                raise StopAsyncIteration
            if self._conn is None:
                await self._reopen()
                continue
            try:
                # Events that came before the watch's answer wait in the same queue, in order.
                message = await self._conn.next_unsolicited()
                taken = self._state.take(message)
            except (ConnectionClosed, InvalidResponse):
                await self._drop()
                continue
            if taken is RESUME:
                await self._drop()
            elif isinstance(taken, Event):
                return taken

    async def aclose(self) -> None:
        """Stop the watch and close its connection."""
        self._closed = True
        await self._drop()

    async def __aenter__(self) -> "AsyncWatch":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return "AsyncWatch(%r, last_seq=%r)" % (self._state.request(), self.last_seq)

    # -- plumbing -------------------------------------------------------------------

    async def _open(self) -> None:
        conn = await AsyncConnection.open(self._path, keep_unsolicited=True)
        try:
            answer = await conn.exchange(self._state.request())
            self._state.started(answer)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._opens += 1

    async def _reopen(self) -> None:
        attempts = self._policy.attempts()
        while True:
            try:
                await self._open()
                return
            except RETRYABLE as exc:
                delay = attempts.next_delay()
                if delay is None or self._closed:
                    self._closed = True
                    raise exc
                await asyncio.sleep(delay)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
