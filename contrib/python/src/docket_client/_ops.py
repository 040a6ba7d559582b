"""Each op once: the request line to send and how to read its answer.

``Client`` and ``AsyncClient`` only differ in how they carry a line to the daemon, so the
members, defaults and answer shapes live here and both clients stay in step (a test
checks that both have a method for every op in ``protocol/schemas``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from ._wire import UNSET, JobLike, Unset, job_id, job_ref, time_text
from .errors import InvalidResponse
from .records import Event, Job, Page, Queue, Schedule

T = TypeVar("T")

#: Every op this client knows; the conformance test compares it with the schemas.
OPS = (
    "hello", "ping", "enqueue", "claim", "progress", "complete", "fail", "cancel", "retry",
    "snooze", "log", "get", "list", "stats", "watch", "schedule_put", "schedule_get",
    "schedule_delete", "schedule_list", "purge", "backup", "queue_put", "queue_get",
    "queue_list", "metrics",
)  # fmt: skip

#: Ops that only read: sending one twice is harmless, so they are resent after a drop.
READS = frozenset(
    {"hello", "ping", "get", "list", "stats", "schedule_get", "schedule_list", "queue_get",
     "queue_list", "metrics"}
)  # fmt: skip

Time = Union[str, datetime]
FieldNames = Optional[Sequence[str]]
#: A queue's rate limit: ``{"max": n, "per_ms": ms}``, or the pair ``(max, per_ms)``.
Rate = Union[Mapping[str, int], Tuple[int, int]]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reader of its successful answer."""

    request: Dict[str, Any]
    read: Callable[[Dict[str, Any]], T]
    #: Safe to send again when the connection dropped before the answer came.
    resendable: bool = False

    @property
    def op(self) -> str:
        return str(self.request["op"])


def request(op: str, members: Mapping[str, Any]) -> Dict[str, Any]:
    """The request object: ``None`` and ``UNSET`` members are left out (the protocol reads
    an absent member and a ``null`` one alike, apart from the exceptions callers pass
    explicitly)."""
    message: Dict[str, Any] = {"op": op}
    for name, value in members.items():
        if value is None or value is UNSET:
            continue
        message[name] = value
    return message


def _member(answer: Mapping[str, Any], name: str, op: str) -> Any:
    try:
        return answer[name]
    except KeyError:
        raise InvalidResponse(
            "docketd's answer to %s has no %r member: %r" % (op, name, dict(answer))
        ) from None


def _job(op: str) -> Callable[[Dict[str, Any]], Job]:
    return lambda answer: Job(_member(answer, "job", op))


def _body(answer: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("ok", "id")}


def _nothing(answer: Dict[str, Any]) -> None:
    return None


def _fields(fields: FieldNames) -> Optional[List[str]]:
    if fields is None:
        return None
    if isinstance(fields, str):
        raise TypeError("fields takes a list of member names, not a string: %r" % (fields,))
    return list(fields)


def _version(value: Union[int, Schedule, Queue], op: str) -> int:
    if isinstance(value, (Schedule, Queue)):
        return int(value.raw["version"])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(
        "%s() takes the version as an int (0 to create) or the object it read, not %r" % (op, value)
    )


# -- hello, ping --------------------------------------------------------------------


def hello(client: Optional[str]) -> Call[Dict[str, Any]]:
    return Call(request("hello", {"client": client}), _body, resendable=True)


def ping() -> Call[None]:
    return Call(request("ping", {}), _nothing, resendable=True)


# -- enqueue ------------------------------------------------------------------------


def _job_members(
    queue: str,
    payload: Any,
    priority: Optional[int],
    run_at: Optional[Time],
    delay_ms: Optional[int],
    max_attempts: Optional[int],
    backoff: Optional[Mapping[str, int]],
    unique_key: Optional[str],
    concurrency_key: Optional[str],
    after: Optional[Sequence[Union[int, Job]]],
    timeout_ms: Optional[int],
    traceparent: Optional[str],
    tracestate: Optional[str],
    extra: Mapping[str, Any],
) -> Dict[str, Any]:
    members: Dict[str, Any] = {
        "queue": queue,
        "payload": payload,
        "priority": priority,
        "run_at": None if run_at is None else time_text(run_at),
        "delay_ms": delay_ms,
        "max_attempts": max_attempts,
        "backoff": None if backoff is None else dict(backoff),
        "unique_key": unique_key,
        "concurrency_key": concurrency_key,
        "after": None if after is None else [job_id(j) for j in after],
        "timeout_ms": timeout_ms,
        "traceparent": traceparent,
        "tracestate": tracestate,
    }
    members.update(extra)
    return members


def enqueue(fields: FieldNames, **members: Any) -> Call[Job]:
    if members["extra"].get("after_index") is not None:
        raise TypeError(
            "after_index names earlier items of enqueue_many()'s jobs; a single job names the "
            "jobs it waits for by id in after="
        )
    message = request("enqueue", {**_job_members(**members), "fields": _fields(fields)})

    def read(answer: Dict[str, Any]) -> Job:
        return Job(_member(answer, "job", "enqueue"), created=answer.get("created"))

    return Call(message, read, resendable="unique_key" in message)


def _indexes(value: Any, place: int) -> List[int]:
    """An item's ``after_index``: the indexes of earlier items (the daemon checks that they
    are earlier; a cycle cannot be written down)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError("jobs[%d]['after_index'] takes a list of indexes of earlier items, not %r" % (place, value))
    indexes = list(value)
    for index in indexes:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("jobs[%d]['after_index'] holds indexes (ints), not %r" % (place, index))
    return indexes


def enqueue_many(jobs: Sequence[Mapping[str, Any]], fields: FieldNames) -> Call[List[Job]]:
    items = []
    for place, item in enumerate(jobs):
        if not isinstance(item, Mapping):
            raise TypeError("each item of enqueue_many() is a mapping of job members, not %r" % (item,))
        item = dict(item)
        if isinstance(item.get("run_at"), datetime):
            item["run_at"] = time_text(item["run_at"])
        if item.get("after") is not None:
            item["after"] = [job_id(j) for j in item["after"]]
        if item.get("after_index") is not None:
            item["after_index"] = _indexes(item["after_index"], place)
        items.append(item)
    message = request("enqueue", {"jobs": items, "fields": _fields(fields)})

    def read(answer: Dict[str, Any]) -> List[Job]:
        raw_jobs = _member(answer, "jobs", "enqueue")
        created = answer.get("created") or [None] * len(raw_jobs)
        return [Job(raw, created=flag) for raw, flag in zip(raw_jobs, created)]

    safe = bool(items) and all(item.get("unique_key") is not None for item in items)
    return Call(message, read, resendable=safe)


# -- claim and the worker's ops -----------------------------------------------------


def claim(
    queue_or_queues: Union[str, Sequence[str]],
    lease_ms: Optional[int],
    wait_ms: Optional[int],
    worker: Optional[str],
    fields: FieldNames,
    retry_after: Optional[Callable[[Optional[int]], None]] = None,
) -> Call[Optional[Job]]:
    """``retry_after``, when given, is told the answer's ``retry_after_ms`` (``None``
    when the answer has none): a claim that did not wait and found the queue's rate
    window full says when to come back."""
    if isinstance(queue_or_queues, str):
        scope: Dict[str, Any] = {"queue": queue_or_queues}
    else:
        scope = {"queues": list(queue_or_queues)}
    message = request(
        "claim",
        {**scope, "lease_ms": lease_ms, "wait_ms": wait_ms, "worker": worker, "fields": _fields(fields)},
    )

    def read(answer: Dict[str, Any]) -> Optional[Job]:
        job = _member(answer, "job", "claim")
        if retry_after is not None:
            hint = answer.get("retry_after_ms") if job is None else None
            retry_after(hint if isinstance(hint, int) and not isinstance(hint, bool) else None)
        return None if job is None else Job(job)

    return Call(message, read)


def _fenced(op: str, job: JobLike, members: Mapping[str, Any]) -> Dict[str, Any]:
    ident, version = job_ref(job, op)
    return request(op, {"job": ident, "version": version, **members})


def progress(job: JobLike, value: Any, lease_ms: Optional[int], fields: FieldNames) -> Call[Job]:
    message = _fenced("progress", job, {"lease_ms": lease_ms, "fields": _fields(fields)})
    if value is not UNSET:
        message["progress"] = value  # null is meaningful here: it clears the stored value
    return Call(message, _job("progress"))


def complete(job: JobLike, result: Any, fields: FieldNames) -> Call[Job]:
    return Call(_fenced("complete", job, {"result": result, "fields": _fields(fields)}), _job("complete"))


def fail(job: JobLike, error: Any, retry: bool, retry_in_ms: Optional[int], fields: FieldNames) -> Call[Job]:
    members = {
        "error": error,
        "retry": None if retry else False,  # true is the default; send only the exception
        "retry_in_ms": retry_in_ms,
        "fields": _fields(fields),
    }
    return Call(_fenced("fail", job, members), _job("fail"))


def cancel(job: JobLike, fields: FieldNames) -> Call[Job]:
    return Call(_fenced("cancel", job, {"fields": _fields(fields)}), _job("cancel"))


def retry(job: JobLike, fields: FieldNames) -> Call[Job]:
    return Call(_fenced("retry", job, {"fields": _fields(fields)}), _job("retry"))


def snooze(job: JobLike, delay_ms: int, fields: FieldNames) -> Call[Job]:
    return Call(_fenced("snooze", job, {"delay_ms": delay_ms, "fields": _fields(fields)}), _job("snooze"))


def log(job: JobLike, text: str, stream: Optional[str], fields: FieldNames) -> Call[Job]:
    if not isinstance(text, str):
        raise TypeError("log() appends text (a str), not %r" % (type(text).__name__,))
    members = {"data": text, "stream": stream, "fields": _fields(fields)}
    return Call(_fenced("log", job, members), _job("log"))


# -- reads --------------------------------------------------------------------------


def get(job: Union[int, Job], events: bool, logs: bool, fields: FieldNames) -> Call[Job]:
    # Log lines are events: asking for them asks for the history they are part of.
    message = request(
        "get",
        {
            "job": job_id(job),
            "events": True if events or logs else None,
            "logs": True if logs else None,
            "fields": _fields(fields),
        },
    )

    def read(answer: Dict[str, Any]) -> Job:
        history = answer.get("events")
        dropped = answer.get("log_dropped_bytes")
        return Job(
            _member(answer, "job", "get"),
            events=None if history is None else [Event(e) for e in history],
            log_dropped_bytes=dropped if isinstance(dropped, int) and not isinstance(dropped, bool) else None,
        )

    return Call(message, read, resendable=True)


def list_jobs(
    queue: Optional[str], state: Optional[str], limit: Optional[int], after: Optional[int], fields: FieldNames
) -> Call[Page]:
    message = request(
        "list", {"queue": queue, "state": state, "limit": limit, "after": after, "fields": _fields(fields)}
    )

    def read(answer: Dict[str, Any]) -> Page:
        return Page([Job(j) for j in _member(answer, "jobs", "list")], answer.get("next"))

    return Call(message, read, resendable=True)


def stats() -> Call[Dict[str, Any]]:
    return Call(request("stats", {}), _body, resendable=True)


def watch_request(
    job: Optional[Union[int, Job]], queue: Optional[str], since: Optional[int], logs: bool
) -> Dict[str, Any]:
    if job is not None and queue is not None:
        raise ValueError("watch() takes a job or a queue, not both (open two watches)")
    return request(
        "watch",
        {
            "job": None if job is None else job_id(job),
            "queue": queue,
            "since": since,
            "logs": True if logs else None,  # log events only when asked for
        },
    )


# -- schedules ----------------------------------------------------------------------


def schedule_put(
    name: str,
    cron: str,
    queue: str,
    version: Union[int, Schedule],
    payload: Any,
    priority: Optional[int],
    max_attempts: Optional[int],
    paused: Optional[bool],
) -> Call[Schedule]:
    message = request(
        "schedule_put",
        {
            "name": name,
            "cron": cron,
            "queue": queue,
            "payload": payload,
            "priority": priority,
            "max_attempts": max_attempts,
            "paused": paused,
            "version": _version(version, "schedule_put"),
        },
    )
    return Call(message, lambda answer: Schedule(_member(answer, "schedule", "schedule_put")))


def schedule_get(name: str) -> Call[Schedule]:
    return Call(
        request("schedule_get", {"name": name}),
        lambda answer: Schedule(_member(answer, "schedule", "schedule_get")),
        resendable=True,
    )


def schedule_delete(name: str, version: Union[int, Schedule]) -> Call[None]:
    return Call(
        request("schedule_delete", {"name": name, "version": _version(version, "schedule_delete")}), _nothing
    )


def schedule_list() -> Call[List[Schedule]]:
    return Call(
        request("schedule_list", {}),
        lambda answer: [Schedule(s) for s in _member(answer, "schedules", "schedule_list")],
        resendable=True,
    )


# -- maintenance --------------------------------------------------------------------


def purge(
    queue: Optional[str], state: Optional[str], before: Optional[Time], limit: Optional[int]
) -> Call[int]:
    message = request(
        "purge",
        {
            "queue": queue,
            "state": state,
            "before": None if before is None else time_text(before),
            "limit": limit,
        },
    )
    return Call(message, lambda answer: int(_member(answer, "purged", "purge")))


def backup(path: str) -> Call[Dict[str, Any]]:
    # Not resendable: the first copy may exist, and the daemon never overwrites a file.
    return Call(request("backup", {"path": path}), _body)


# -- queues -------------------------------------------------------------------------


def _rate(value: Union[Rate, None]) -> Optional[Dict[str, int]]:
    """The wire form of a rate: ``None`` (no limit) stays ``None``; a pair
    ``(max, per_ms)`` becomes ``{"max": max, "per_ms": per_ms}``; a mapping is sent as
    given (the daemon checks it and names a missing or bad member)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return {"max": value[0], "per_ms": value[1]}
    raise TypeError(
        'queue_put() takes rate as {"max": n, "per_ms": ms}, a pair (max, per_ms), or None '
        "to lift the limit, not %r" % (value,)
    )


def queue_put(
    queue: str,
    version: Union[int, Queue],
    paused: Union[bool, Unset],
    max_running: Union[int, None, Unset],
    max_running_per_key: Union[int, None, Unset],
    rate: Union[Rate, None, Unset],
) -> Call[Queue]:
    message = request("queue_put", {"queue": queue, "version": _version(version, "queue_put")})
    # Here null is meaningful (no limit) and a member left out keeps its stored value, so
    # UNSET (not given) and None (send null) are told apart. paused=None is sent as null,
    # which the daemon reads as absent: the pause stays as it is.
    for name, value in (
        ("paused", paused),
        ("max_running", max_running),
        ("max_running_per_key", max_running_per_key),
    ):
        if value is not UNSET:
            message[name] = value
    if rate is not UNSET:
        message["rate"] = _rate(rate)
    # Not resendable: after a lost answer the settings may be one version further, and
    # the same request again would be refused as stale.
    return Call(message, lambda answer: Queue(_member(answer, "queue", "queue_put")))


def queue_get(queue: str) -> Call[Queue]:
    return Call(
        request("queue_get", {"queue": queue}),
        lambda answer: Queue(_member(answer, "queue", "queue_get")),
        resendable=True,
    )


def queue_list() -> Call[List[Queue]]:
    return Call(
        request("queue_list", {}),
        lambda answer: [Queue(q) for q in _member(answer, "queues", "queue_list")],
        resendable=True,
    )


def metrics() -> Call[str]:
    return Call(
        request("metrics", {}), lambda answer: str(_member(answer, "text", "metrics")), resendable=True
    )
