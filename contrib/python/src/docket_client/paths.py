"""Where the daemon's socket is when nobody says.

The order mirrors ``DefaultPaths.socket()`` in the Swift sources, which both ``docketd``
and the ``docket`` command line use, so a Python program finds the same daemon as the
CLI without any configuration.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

__all__ = ["default_socket_path"]


def _env(environ: Mapping[str, str], name: str) -> Optional[str]:
    # An empty variable counts as unset, as it does for the daemon.
    value = environ.get(name)
    return value if value else None


def default_socket_path(environ: Optional[Mapping[str, str]] = None, euid: Optional[int] = None) -> str:
    """The socket path the ``docket`` CLI would use.

    First that applies: ``$DOCKET_SOCKET``; ``$RUNTIME_DIRECTORY/docket.sock`` (a process
    run by systemd with ``RuntimeDirectory=``, where the daemon puts it); for root
    ``/run/docket/docket.sock``; for others ``$XDG_RUNTIME_DIR/docket.sock``; and last
    ``/tmp/docket-<euid>/docket.sock``. ``environ`` and ``euid`` exist for tests.
    """
    env = os.environ if environ is None else environ
    uid = os.geteuid() if euid is None else euid
    explicit = _env(env, "DOCKET_SOCKET")
    if explicit:
        return explicit
    runtime = _env(env, "RUNTIME_DIRECTORY")
    if runtime:
        # systemd passes a colon-separated list when a unit names several directories.
        first = next((part for part in runtime.split(":") if part), runtime)
        return first + "/docket.sock"
    if uid == 0:
        return "/run/docket/docket.sock"
    xdg = _env(env, "XDG_RUNTIME_DIR")
    if xdg:
        return xdg + "/docket.sock"
    return "/tmp/docket-%d/docket.sock" % uid
