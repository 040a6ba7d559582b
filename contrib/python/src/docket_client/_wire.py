"""Framing and value conversion shared by the blocking and the asyncio client.

Kept free of I/O so both transports frame, encode and classify lines identically.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Tuple, Union

from .errors import ConnectionClosed, InvalidResponse
from .records import Job

__all__ = [
    "UNSET",
    "Unset",
    "JobLike",
    "NotSent",
    "encode",
    "decode",
    "is_unsolicited",
    "job_ref",
    "job_id",
    "time_text",
]


class NotSent(ConnectionClosed):
    """The connection was found closed before the request left: the daemon never saw it,
    so any request may be sent again on a new connection."""


class Unset(enum.Enum):
    """Type of ``UNSET``: "leave this member out of the request"."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument the caller did not give, for the few members where ``None`` means
#: something (``progress=None`` clears the stored progress; ``max_running=None`` lifts a
#: limit) and so cannot also mean "not given".
UNSET = Unset.UNSET

#: What a fenced op accepts: the ``Job`` the last call returned, or ``(id, version)``.
JobLike = Union[Job, Tuple[int, int]]


def encode(message: Mapping[str, Any]) -> bytes:
    """One request line: compact UTF-8 JSON and the ``\\n`` that ends it.

    Raises ``TypeError``/``ValueError`` before anything is sent when a value is not JSON
    (a set, a datetime, NaN), so a half-written line never reaches the daemon.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def decode(line: bytes) -> Dict[str, Any]:
    """The JSON object of one line the daemon sent."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise InvalidResponse("docketd sent a line that is not JSON (%s): %r" % (exc, line[:200])) from None
    if not isinstance(value, dict):
        raise InvalidResponse("docketd sent a line that is not a JSON object: %r" % (line[:200],))
    return value


def is_unsolicited(message: Mapping[str, Any]) -> bool:
    """Whether a line answers no request: an event line, or a watch's last
    ``watch_overflow`` line. Everything else is the answer to the oldest request.
    """
    if "ok" not in message:
        return True
    error = message.get("error")
    return (
        message.get("ok") is False
        and "id" not in message
        and isinstance(error, dict)
        and error.get("code") == "watch_overflow"
    )


def job_ref(job: JobLike, op: str) -> Tuple[int, int]:
    """The ``(id, version)`` a fenced op sends."""
    if isinstance(job, Job):
        return job.ref
    if (
        isinstance(job, tuple)
        and len(job) == 2
        and all(isinstance(part, int) and not isinstance(part, bool) for part in job)
    ):
        return (job[0], job[1])
    raise TypeError(
        "%s() needs the job's version as well as its id, to fence out stale workers: "
        "pass the Job the last call returned, or an (id, version) pair, not %r" % (op, job)
    )


def job_id(job: Union[int, Job]) -> int:
    """The id of a job named by id or by a ``Job`` (for reads, which are not fenced)."""
    if isinstance(job, Job):
        return int(job.raw["id"])
    if isinstance(job, int) and not isinstance(job, bool):
        return job
    raise TypeError("expected a job id or a Job, not %r" % (job,))


def time_text(value: Union[str, datetime]) -> str:
    """A time as the daemon reads it; strings pass through for the daemon to judge."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "%r has no time zone; the daemon cannot tell which instant it means "
                "(use e.g. datetime.now(timezone.utc))" % (value,)
            )
        utc = value.astimezone(timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (utc.microsecond // 1000)
    raise TypeError("expected an RFC 3339 string or an aware datetime, not %r" % (value,))
