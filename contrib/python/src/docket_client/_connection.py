"""One blocking connection to the daemon: lines out, lines in.

The connection knows nothing about ops. It writes request lines, reads the answer lines
back in order (answers come in request order, so no ids are needed), and sets aside the
lines that answer nothing (events, a watch's cut-off). ``abort`` may be called from
another thread to end a read that would otherwise wait for a long ``claim``.
"""

from __future__ import annotations

import select
import socket
from typing import Any, Dict, Mapping

from . import _wire
from .errors import CannotConnect, ConnectionClosed

__all__ = ["Connection"]


class Connection:
    """A connected Unix socket speaking the line protocol."""

    def __init__(self, path: str) -> None:
        self.path = path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise CannotConnect(
                "cannot connect to docketd at %s: %s. Is docketd running? Pass socket= or set "
                "$DOCKET_SOCKET." % (path, exc.strerror or exc)
            ) from None
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._closed = False
        #: Set by ``abort``: the owner drops the connection after its current request.
        self.aborted = False

    # -- writing --------------------------------------------------------------------

    def send(self, message: Mapping[str, Any]) -> None:
        """Send one request (encoding it first, so a bad value sends nothing)."""
        self.send_bytes(_wire.encode(message))

    def send_bytes(self, data: bytes) -> None:
        """Send bytes exactly as given; the caller supplies the line ends."""
        try:
            self._sock.sendall(data)
        except OSError:
            self.close()
            raise _wire.NotSent(
                "the connection to docketd at %s closed before the request could be sent" % self.path
            ) from None

    # -- reading --------------------------------------------------------------------

    def read_message(self) -> Dict[str, Any]:
        """The next line the daemon sends, whatever it is."""
        try:
            line = self._reader.readline()
        except (OSError, ValueError):  # ValueError: read on a file closed meanwhile
            line = b""
        if not line.endswith(b"\n"):
            self.close()
            raise ConnectionClosed(
                "the connection to docketd closed before the answer arrived; the request may "
                "or may not have been applied"
            )
        try:
            return _wire.decode(line)
        except Exception:
            self.close()  # the stream cannot be trusted to be in step any more
            raise

    def read_answer(self) -> Dict[str, Any]:
        """The answer to the oldest unanswered request, skipping lines that answer nothing
        (they only come to a connection that started a watch through ``request``)."""
        while True:
            message = self.read_message()
            if not _wire.is_unsolicited(message):
                return message

    # -- state ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def looks_dead(self) -> bool:
        """Whether the daemon has closed its end while we were idle (a restart, say),
        checked without blocking, so a request is not written into a dead socket and then
        reported as possibly applied."""
        if self._closed or self.aborted:
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            return self._sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def abort(self) -> None:
        """End the connection from any thread: a blocked read returns what has already
        arrived and then ``ConnectionClosed``; the daemon sees the peer gone. Unlike
        ``close``, it is safe while another thread is reading."""
        self.aborted = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Release the socket; only for the thread that owns the connection."""
        if self._closed:
            return
        self._closed = True
        for closing in (self._reader.close, self._sock.close):
            try:
                closing()
            except OSError:
                pass
