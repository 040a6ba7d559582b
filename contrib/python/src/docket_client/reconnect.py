"""How long a client keeps trying to reach the daemon again after a connection drops.

The same policy as the Swift client's ``ReconnectPolicy``, so a Python program and the
CLI ride out a daemon restart alike: only requests that are safe to send twice are
resent after a drop (reads, ``enqueue`` with a ``unique_key``, and anything refused
with ``shutting_down``, which applied nothing). A change whose answer was lost raises
``ConnectionClosed``, because it may have been applied. The very first connection is
never retried: a daemon that is not running is reported at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Optional

__all__ = ["ReconnectPolicy"]


@dataclass(frozen=True)
class ReconnectPolicy:
    """Pauses start at ``initial_delay`` seconds and double up to ``max_delay``; after
    ``give_up_after`` seconds without success the last error is raised."""

    initial_delay: float = 0.05
    max_delay: float = 2.0
    give_up_after: float = 30.0

    #: 50 ms doubling up to 2 s, for 30 s: rides out a daemon restart. The default.
    STANDARD: ClassVar["ReconnectPolicy"]
    #: Never resend and never reconnect behind the caller's back.
    NEVER: ClassVar["ReconnectPolicy"]

    def attempts(self) -> "_Attempts":
        """A fresh series of pauses, for one outage."""
        return _Attempts(self)


ReconnectPolicy.STANDARD = ReconnectPolicy()
ReconnectPolicy.NEVER = ReconnectPolicy(give_up_after=0.0)


class _Attempts:
    def __init__(self, policy: ReconnectPolicy) -> None:
        self._policy = policy
        self._start = time.monotonic()
        self._delay = policy.initial_delay

    def next_delay(self) -> Optional[float]:
        """The pause before the next attempt, or ``None`` once the policy gives up."""
        if time.monotonic() + self._delay - self._start > self._policy.give_up_after:
            return None
        delay = self._delay
        self._delay = min(self._delay * 2, self._policy.max_delay)
        return delay
