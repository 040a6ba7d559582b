"""The objects the daemon answers with: jobs, events, schedules, queues.

Each wraps the JSON object exactly as it came off the wire (``.raw``) and reads members
from it on access, instead of copying them into fixed fields: the protocol may add
members in later releases and a request with ``fields`` gets brief jobs, and both must
keep working without a new client release.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

__all__ = ["FINAL_STATES", "Record", "Job", "Event", "Schedule", "Queue", "QueueInfo", "Page"]

#: States a job leaves only through an operator's ``retry``.
FINAL_STATES = frozenset({"completed", "failed", "cancelled"})


class Record:
    """A JSON object from the daemon, with attribute access to its members.

    ``record.name`` reads ``record.raw["name"]``; a member the object does not carry
    raises ``AttributeError`` naming it (rather than returning ``None``, which would be
    indistinguishable from a stored ``null``).
    """

    __slots__ = ("raw",)
    _kind = "record"

    def __init__(self, raw: Mapping[str, Any]) -> None:
        #: The JSON object as the daemon sent it.
        self.raw: Dict[str, Any] = dict(raw)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for wire members.
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            raw = object.__getattribute__(self, "raw")
        except AttributeError:  # half-built (copy, pickle): behave like a plain object
            raise AttributeError(name) from None
        try:
            return raw[name]
        except KeyError:
            raise AttributeError(
                "this %s has no member %r (it has: %s); a request with `fields` leaves "
                "members out, and members added in later protocol releases are missing "
                "from older daemons' answers" % (self._kind, name, ", ".join(raw) or "none")
            ) from None

    def __getitem__(self, name: str) -> Any:
        return self.raw[name]

    def __contains__(self, name: object) -> bool:
        return name in self.raw

    def get(self, name: str, default: Any = None) -> Any:
        """The member, or ``default`` when the object does not carry it."""
        return self.raw.get(name, default)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]  # mutable dict inside

    def __repr__(self) -> str:
        shown = ", ".join("%s=%r" % (k, self.raw[k]) for k in self._repr_keys() if k in self.raw)
        return "%s(%s)" % (type(self).__name__, shown)

    def _repr_keys(self) -> Tuple[str, ...]:
        return tuple(self.raw)[:4]


class Job(Record):
    """A job as the daemon last showed it.

    Pass it back to ``progress``, ``complete``, ``fail``, ``cancel``, ``retry``,
    ``snooze`` or ``log``: they send its ``id`` and ``version``, so the version fence
    (a worker that lost its lease cannot overwrite the new owner's work) holds without
    any bookkeeping by the caller. Always continue with the job the last call returned.
    """

    __slots__ = ("created", "events", "log_dropped_bytes")
    _kind = "job"

    # Members of the job object (protocol section 3 and the second-round additions).
    # Declared for type checkers and editors; read from ``raw`` by ``__getattr__``.
    id: int
    queue: str
    state: str
    version: int
    priority: int
    payload: Any
    attempt: int
    max_attempts: int
    run_at: str
    created_at: str
    updated_at: str
    lease_expires_at: Optional[str]
    worker: Optional[str]
    progress: Any
    result: Any
    last_error: Any
    unique_key: Optional[str]
    concurrency_key: Optional[str]
    #: The longest one attempt may run, from its claim; ``None``: no limit.
    timeout_ms: Optional[int]
    #: W3C Trace Context given at enqueue, for the worker to continue the trace.
    traceparent: Optional[str]
    tracestate: Optional[str]
    #: The ids of the jobs this one waits for (``after``, and ``after_index`` resolved).
    after: List[int]
    #: Those of ``after`` not completed yet: while not empty, a pending job is not eligible.
    waiting_for: List[int]

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        created: Optional[bool] = None,
        events: Optional[List["Event"]] = None,
        log_dropped_bytes: Optional[int] = None,
    ) -> None:
        super().__init__(raw)
        #: From ``enqueue``'s answer: ``False`` when a stored job with the same
        #: ``unique_key`` was returned instead of a new one; ``None`` otherwise.
        self.created = created
        #: From ``get(..., events=True)``: the job's history, oldest first (with its log
        #: lines, events of type ``log``, only when ``logs=True``).
        self.events = events
        #: From ``get(..., logs=True)``: how many bytes of older log the daemon dropped to
        #: keep 1 MiB per job; ``None`` otherwise.
        self.log_dropped_bytes = log_dropped_bytes

    def log_text(self, stream: Optional[str] = None) -> str:
        """The job's log as one string: the text of its ``log`` events in order (of one
        ``stream``, ``"stdout"`` or ``"stderr"``, when given). Needs the job read with
        ``get(..., logs=True)``."""
        if self.events is None:
            raise ValueError("this job was read without its events: use get(job, logs=True)")
        return "".join(
            e.data["text"]
            for e in self.events
            if e.type == "log" and (stream is None or e.data.get("stream") == stream)
        )

    @property
    def ref(self) -> Tuple[int, int]:
        """``(id, version)``: what a fenced request names."""
        return (self.raw["id"], self.raw["version"])

    @property
    def is_final(self) -> bool:
        """Whether only an operator's ``retry`` can move the job again."""
        return self.raw.get("state") in FINAL_STATES

    def _repr_keys(self) -> Tuple[str, ...]:
        return ("id", "queue", "state", "version", "attempt")


class Event(Record):
    """One recorded change of a job, as ``watch`` streams it and ``get`` lists it; or,
    with ``type`` ``"log"``, a piece of its log (``data`` is ``{"stream", "text"}``, and
    ``version`` the job's, which a log line does not change)."""

    __slots__ = ()
    _kind = "event"

    seq: int
    at: str
    job: int
    queue: str
    type: str
    version: int
    state: str
    data: Any
    peer: Optional[str]

    @property
    def is_final(self) -> bool:
        """Whether this event left its job in a final state (a job watch ends here)."""
        return self.raw.get("state") in FINAL_STATES

    def _repr_keys(self) -> Tuple[str, ...]:
        return ("seq", "job", "type", "version", "state")


class Schedule(Record):
    """A stored cron definition; pass it back to ``schedule_put``/``schedule_delete``."""

    __slots__ = ()
    _kind = "schedule"

    name: str
    cron: str
    queue: str
    payload: Any
    priority: int
    max_attempts: int
    paused: bool
    version: int
    next_run_at: str
    last_run_at: Optional[str]
    created_at: str
    updated_at: str

    def _repr_keys(self) -> Tuple[str, ...]:
        return ("name", "cron", "queue", "version", "paused")


class Queue(Record):
    """A queue's settings and job counts, as ``queue_put``, ``queue_get`` and
    ``queue_list`` answer them.

    Pass it back to ``queue_put`` as the ``version``: it sends the version it carries, so
    a change made meanwhile by someone else is refused (``StaleVersion``) instead of
    overwritten. A queue whose settings were never stored has ``version`` 0 and the
    defaults (not paused, no limits).
    """

    __slots__ = ()
    _kind = "queue"

    name: str
    paused: bool
    #: The most running jobs of the queue; ``None``: no limit.
    max_running: Optional[int]
    #: The most running jobs sharing one ``concurrency_key``; ``None``: no limit.
    max_running_per_key: Optional[int]
    #: ``{"max": n, "per_ms": ms}``: at most ``max`` claims in any ``per_ms``; ``None``: no limit.
    rate: Optional[Dict[str, int]]
    version: int
    #: State -> number of the queue's jobs in it (states with none left out).
    counts: Dict[str, int]

    def _repr_keys(self) -> Tuple[str, ...]:
        return ("name", "version", "paused", "max_running", "max_running_per_key", "rate")


#: The name this class had first; kept so that code written against it goes on working.
QueueInfo = Queue


class Page:
    """One page of ``list``: the jobs, and ``next``, the ``after`` for the next page."""

    __slots__ = ("jobs", "next")

    def __init__(self, jobs: List[Job], next: Optional[int]) -> None:
        self.jobs = jobs
        #: The id to pass as ``after`` for the next page; ``None`` on the last page.
        self.next = next

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        return "Page(%d jobs, next=%r)" % (len(self.jobs), self.next)
