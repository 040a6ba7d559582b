"""One asyncio connection to the daemon, with pipelining.

Answers come back in request order, so each request appends a future to a FIFO and a
reader task resolves them in turn; many coroutines can share the connection without
waiting for each other's round trips. A caller that is cancelled leaves its future
behind, and the reader simply discards that answer when it arrives, keeping the stream
in step.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import Any, Deque, Dict, Mapping, Optional, Union

from . import _wire
from .errors import CannotConnect, ConnectionClosed, DocketClientError

__all__ = ["AsyncConnection"]

# asyncio's default line limit (64 KiB) is far below what a daemon may send (a list of
# 1000 jobs); this is only a ceiling, nothing is allocated for it.
_LINE_LIMIT = 1 << 30


class _Closed:
    """Marks the end of the unsolicited lines."""


_CLOSED = _Closed()


class AsyncConnection:
    """A connected Unix socket speaking the line protocol, for asyncio."""

    def __init__(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_unsolicited: bool
    ) -> None:
        self.path = path
        self._reader = reader
        self._writer = writer
        self._waiters: Deque["asyncio.Future[Dict[str, Any]]"] = deque()
        self._unsolicited: Optional["asyncio.Queue[Union[Dict[str, Any], _Closed]]"] = (
            asyncio.Queue() if keep_unsolicited else None
        )
        self._drain_lock = asyncio.Lock()
        self._closed = False
        self._retired = False
        self._failure: Optional[DocketClientError] = None
        #: Set by ``abort``: the owner drops the connection after its current request.
        self.aborted = False
        self._task = asyncio.ensure_future(self._read_loop())

    @classmethod
    async def open(cls, path: str, *, keep_unsolicited: bool = False) -> "AsyncConnection":
        """Connect. ``keep_unsolicited`` keeps event lines for ``next_unsolicited``
        (a watch's connection); otherwise they are dropped."""
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=_LINE_LIMIT)
        except OSError as exc:
            raise CannotConnect(
                "cannot connect to docketd at %s: %s. Is docketd running? Pass socket= or set "
                "$DOCKET_SOCKET." % (path, exc.strerror or exc)
            ) from None
        return cls(path, reader, writer, keep_unsolicited)

    @property
    def closed(self) -> bool:
        return self._closed

    def looks_dead(self) -> bool:
        """Whether the daemon has closed its end, checked on the socket itself: the
        reader task may not have run since the close arrived (a restart while this task
        was busy), and a request written into a dead socket would be reported as possibly
        applied instead of simply being sent on a new connection."""
        if self._closed or self.aborted or self._retired:
            return True
        sock = self._writer.get_extra_info("socket")
        if sock is None:
            return False
        try:
            with sock.dup() as peek:  # a duplicate, so the transport's socket is untouched
                data: bytes = peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                return data == b""
        except BlockingIOError:
            return False  # open, nothing to read
        except OSError:
            return True

    # -- requests -------------------------------------------------------------------

    async def exchange(self, message: Mapping[str, Any]) -> Dict[str, Any]:
        """Send one request and return its answer (encoding first: a bad value sends
        nothing)."""
        return await self.exchange_bytes(_wire.encode(message))

    async def exchange_bytes(self, data: bytes) -> Dict[str, Any]:
        """Send bytes as given (the caller ends the line) and return the next answer."""
        if self._closed or self._retired:
            raise _wire.NotSent(
                "the connection to docketd at %s closed before the request could be sent" % self.path
            )
        future: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        # Queue the future and write in one step, with no await between, so that the
        # FIFO order is the order on the wire.
        self._waiters.append(future)
        self._writer.write(data)
        try:
            async with self._drain_lock:  # concurrent drain() is not safe before 3.10
                await self._writer.drain()
        except (OSError, RuntimeError):
            pass  # the reader task reports the closed connection through the future
        return await future

    # -- lines that answer nothing ----------------------------------------------------

    async def next_unsolicited(self) -> Dict[str, Any]:
        """The next event (or cut-off) line; ``ConnectionClosed`` when the connection
        ends."""
        assert self._unsolicited is not None, "open the connection with keep_unsolicited"
        item = await self._unsolicited.get()
        if isinstance(item, _Closed):
            self._unsolicited.put_nowait(item)  # keep reporting the end
            raise self._failure or ConnectionClosed("the connection to docketd closed")
        return item

    # -- reader -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        failure: DocketClientError = ConnectionClosed(
            "the connection to docketd closed before the answer arrived; the request may or "
            "may not have been applied"
        )
        try:
            while True:
                line = await self._reader.readline()
                if not line.endswith(b"\n"):
                    break
                try:
                    message = _wire.decode(line)
                except DocketClientError as exc:
                    failure = exc
                    break
                if _wire.is_unsolicited(message):
                    if self._unsolicited is not None:
                        self._unsolicited.put_nowait(message)
                    continue
                if self._waiters:
                    future = self._waiters.popleft()
                    if not future.done():
                        future.set_result(message)
                if self._retired and not self._waiters:
                    self._writer.close()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._finish(failure)

    def _finish(self, failure: DocketClientError) -> None:
        self._closed = True
        self._failure = failure
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(type(failure)(failure.message))
        if self._unsolicited is not None:
            self._unsolicited.put_nowait(_CLOSED)
        self._writer.close()

    # -- ending -----------------------------------------------------------------------

    def retire(self) -> None:
        """Take no new requests and close once the answers in flight have arrived, so
        that requests pipelined by other tasks are not cut off with it."""
        self._retired = True
        if not self._waiters:
            self._writer.close()

    def abort(self) -> None:
        """End the connection: answers that already arrived are still delivered, the rest
        fail with ``ConnectionClosed``, and the daemon sees the peer gone (a waiting claim
        is withdrawn; a job it could no longer deliver goes back to pending)."""
        self.aborted = True
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    async def close(self) -> None:
        """Close the connection and wait for the reader to finish."""
        if not self._closed:
            self.abort()
        self._writer.close()
        self._task.cancel()
        # The reader's own cancellation comes back as a result; the caller's propagates.
        await asyncio.gather(self._task, return_exceptions=True)
