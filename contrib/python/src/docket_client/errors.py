"""Exceptions: one class per error code of the protocol, all under ``DocketError``.

Programs branch on the class (or ``.code``), never on ``.message``: the daemon's
sentences may change between releases, its codes may not. A code this client does not
know (a newer daemon's) still raises, as a plain ``DocketError`` with that ``.code``.

Failures that happen before an answer exists (no daemon, a dropped connection, a garbled
line) are ``DocketClientError`` subclasses, so one ``except DocketError`` covers
everything a call can raise about Docket.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

from .records import Job

__all__ = [
    "DocketError",
    "BadRequest",
    "UnknownOp",
    "NotFound",
    "StaleVersion",
    "InvalidState",
    "TooLarge",
    "Forbidden",
    "ShuttingDown",
    "Internal",
    "Unavailable",
    "InDoubt",
    "WatchOverflow",
    "DocketClientError",
    "CannotConnect",
    "ConnectionClosed",
    "InvalidResponse",
    "error_from_answer",
]


class DocketError(Exception):
    """A request the daemon refused (or, for subclasses of ``DocketClientError``, one
    that got no answer).

    A refused request changed nothing, except ``InDoubt``, where the daemon cannot tell.
    """

    #: The protocol's error code this class stands for (``None`` on the base class).
    code_for: Optional[str] = None

    def __init__(self, error: Mapping[str, Any], op: Optional[str] = None) -> None:
        #: The ``error`` object of the answer, as the daemon sent it.
        self.raw: Dict[str, Any] = dict(error)
        #: The error code, e.g. ``"stale_version"``.
        self.code: str = str(self.raw.get("code") or self.code_for or "unknown")
        #: A sentence for people; do not match on it.
        self.message: str = str(self.raw.get("message") or "docketd refused the request without saying why")
        #: The op of the request that failed, when known.
        self.op = op
        job = self.raw.get("job")
        #: For ``stale_version`` and ``invalid_state``: where the job is now (its ``id``,
        #: ``version`` and ``state``). It is a ``Job``, so after deciding to act anyway an
        #: operator tool can pass it straight to ``cancel`` or ``retry``.
        self.job: Optional[Job] = Job(job) if isinstance(job, dict) else None
        super().__init__(self.code, self.message)

    @property
    def schedule(self) -> Optional[Dict[str, Any]]:
        """For ``stale_version`` on a schedule: its ``name`` and present ``version``."""
        value = self.raw.get("schedule")
        return value if isinstance(value, dict) else None

    @property
    def queue(self) -> Optional[Dict[str, Any]]:
        """For ``stale_version`` from ``queue_put``: the queue's ``name`` and the present
        ``version`` of its settings (0 when none are stored), as in
        ``{"name": "llm", "version": 2}``."""
        value = self.raw.get("queue")
        return value if isinstance(value, dict) else None

    def __str__(self) -> str:
        text = "%s: %s" % (self.code, self.message)
        if self.op:
            text = "%s refused, %s" % (self.op, text)
        if self.job is not None:
            text += " (job %s is at version %s, %s)" % (
                self.job.get("id"),
                self.job.get("version"),
                self.job.get("state"),
            )
        return text

    def __repr__(self) -> str:
        return "%s(%r)" % (type(self).__name__, self.raw)

    def __reduce__(self) -> Any:
        # Exceptions are pickled by their args; ours are built from the error object.
        return (type(self), (self.raw, self.op))


class BadRequest(DocketError):
    """The request is malformed or out of range; sending it again unchanged fails again."""

    code_for = "bad_request"


class UnknownOp(DocketError):
    """The daemon does not serve this op: it is misspelt, or newer than the daemon."""

    code_for = "unknown_op"


class NotFound(DocketError):
    """No such job (also one deleted by retention or ``purge``) or schedule. (Queues are
    never not found: ``queue_get`` answers any name.)"""

    code_for = "not_found"


class StaleVersion(DocketError):
    """The job (or schedule, or queue settings) moved on since the version sent.

    For a worker this means it lost the job (its lease ran out, or it was cancelled):
    drop the job and do not touch it again. ``.job`` says where the job is now; for a
    schedule ``.schedule``, and for a queue's settings ``.queue``, give the ``name`` and
    present ``version`` instead (``.job`` is then ``None``). Read them again
    (``schedule_get``, ``queue_get``) and decide before changing them.
    """

    code_for = "stale_version"


class InvalidState(DocketError):
    """The version matches, but the op is not allowed in the job's state."""

    code_for = "invalid_state"


class TooLarge(DocketError):
    """The request line was over ``max_line_bytes``; the daemon closed the connection."""

    code_for = "too_large"


class Forbidden(DocketError):
    """This peer may not use the daemon, or this op is not served on a read-only socket."""

    code_for = "forbidden"


class ShuttingDown(DocketError):
    """The daemon is draining; nothing was applied. Reconnect after a pause and resend."""

    code_for = "shutting_down"


class Internal(DocketError):
    """The database failed and nothing was applied; retry later with backoff."""

    code_for = "internal"


class Unavailable(DocketError):
    """The store cannot be reached now; nothing was applied. Retry later."""

    code_for = "unavailable"


class InDoubt(DocketError):
    """The store was lost during the commit: the change may or may not be applied.

    Read the job again (``get``) before retrying; an ``enqueue`` with a ``unique_key``
    is always safe to resend.
    """

    code_for = "in_doubt"


class WatchOverflow(DocketError):
    """A watcher fell too far behind and was cut off.

    ``watch()`` handles this itself by resuming after the last event it yielded; the
    class exists for code that speaks the protocol through ``request``.
    """

    code_for = "watch_overflow"

    @property
    def seq(self) -> Optional[int]:
        """The seq of the last event line the daemon wrote before cutting off."""
        value = self.raw.get("seq")
        return value if isinstance(value, int) else None


class DocketClientError(DocketError):
    """No answer came: raised by this client, never sent by the daemon.

    Its ``code`` is the client's own (``cannot_connect``, ``connection_closed``,
    ``invalid_response``), never one of the protocol's.
    """

    def __init__(self, message: str, op: Optional[str] = None) -> None:
        super().__init__({"code": self.code_for, "message": message}, op)

    def __reduce__(self) -> Any:
        return (type(self), (self.message, self.op))


class CannotConnect(DocketClientError):
    """Nothing is listening at the socket path, or it may not be opened."""

    code_for = "cannot_connect"


class ConnectionClosed(DocketClientError):
    """The connection closed before the answer arrived.

    A change may or may not have been applied: read the job again before repeating it.
    """

    code_for = "connection_closed"


class InvalidResponse(DocketClientError):
    """The daemon sent a line this client cannot read; the connection is dropped."""

    code_for = "invalid_response"


_BY_CODE: Dict[str, Type[DocketError]] = {
    cls.code_for: cls
    for cls in (
        BadRequest,
        UnknownOp,
        NotFound,
        StaleVersion,
        InvalidState,
        TooLarge,
        Forbidden,
        ShuttingDown,
        Internal,
        Unavailable,
        InDoubt,
        WatchOverflow,
    )
    if cls.code_for is not None
}


def error_from_answer(answer: Mapping[str, Any], op: Optional[str] = None) -> DocketError:
    """The exception for a failure answer (``{"ok": false, "error": {...}}``)."""
    error = answer.get("error")
    if not isinstance(error, dict):
        error = {"code": "internal", "message": "docketd answered ok: false without an error"}
    cls = _BY_CODE.get(str(error.get("code")), DocketError)
    return cls(error, op)
