"""A Python client of Docket's ``docketd``: blocking (``Client``) and asyncio
(``AsyncClient``), standard library only.

    from docket_client import Client

    with Client() as docket:
        job = docket.enqueue("emails", {"to": "a@b"})
        print(docket.get(job).state)

See ``README.md`` beside the package for a worker, and the protocol description in the
Docket repository (``protocol/README.md``) for what each op does.
"""

from ._aio_watch import AsyncWatch
from ._watch import Watch
from ._wire import UNSET, JobLike
from .aio import AsyncClient
from .aio_worker import AsyncWorker
from .client import Client
from .errors import (
    BadRequest,
    CannotConnect,
    ConnectionClosed,
    DocketClientError,
    DocketError,
    Forbidden,
    InDoubt,
    Internal,
    InvalidResponse,
    InvalidState,
    NotFound,
    ShuttingDown,
    StaleVersion,
    TooLarge,
    Unavailable,
    UnknownOp,
    WatchOverflow,
)
from .paths import default_socket_path
from .reconnect import ReconnectPolicy
from .records import FINAL_STATES, Event, Job, Page, Queue, QueueInfo, Record, Schedule
from .worker import Worker, WorkerReport

__version__ = "0.1.0"

#: The protocol version this client speaks (``hello`` reports the daemon's).
PROTOCOL = 1

__all__ = [
    "PROTOCOL",
    "UNSET",
    "FINAL_STATES",
    "AsyncClient",
    "AsyncWatch",
    "AsyncWorker",
    "BadRequest",
    "CannotConnect",
    "Client",
    "ConnectionClosed",
    "DocketClientError",
    "DocketError",
    "Event",
    "Forbidden",
    "InDoubt",
    "Internal",
    "InvalidResponse",
    "InvalidState",
    "Job",
    "JobLike",
    "NotFound",
    "Page",
    "Queue",
    "QueueInfo",
    "ReconnectPolicy",
    "Record",
    "Schedule",
    "ShuttingDown",
    "StaleVersion",
    "TooLarge",
    "Unavailable",
    "UnknownOp",
    "Watch",
    "WatchOverflow",
    "Worker",
    "WorkerReport",
    "default_socket_path",
]
