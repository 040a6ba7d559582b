"""Fixtures: a real ``docketd`` per test, in a fresh temporary directory.

The daemon binary is ``$DOCKETD``, by default the repository's debug build. Tests run
against the package sources (``src/``), so no install is needed to run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
REPO = PACKAGE_ROOT.parent.parent
sys.path.insert(0, str(PACKAGE_ROOT / "src"))

from docket_client import Client  # noqa: E402

DOCKETD = os.environ.get("DOCKETD") or str(REPO / ".build" / "debug" / "docketd")


class Daemon:
    """One ``docketd`` on a socket and a SQLite file of its own; restartable on the same
    database, which is how the tests cut every connection at once."""

    def __init__(self, directory: Path, extra_args: Optional[List[str]] = None) -> None:
        self.directory = directory
        self.socket = str(directory / "d.sock")
        self.db = str(directory / "d.db")
        self.extra_args = list(extra_args or [])
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._log = open(directory / "docketd.log", "ab")

    def start(self) -> "Daemon":
        if not os.access(DOCKETD, os.X_OK):
            pytest.fail("no docketd at %s: build it, or set $DOCKETD to its path" % DOCKETD)
        self.process = subprocess.Popen(
            [DOCKETD, "--socket", self.socket, "--db", self.db, *self.extra_args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    "docketd exited with status %s; see %s" % (self.process.returncode, self._log.name)
                )
            if self._answers_ping():
                return self
            time.sleep(0.02)
        pytest.fail("docketd did not answer ping within 20 s")

    def _answers_ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(self.socket)
                sock.sendall(b'{"op":"ping"}\n')
                return sock.recv(100).startswith(b'{"ok":true')
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, as systemd would; SIGKILL only if it does not drain in 10 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._log.close()


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short, so the socket path stays under the 108 bytes a Unix socket address allows.
    path = Path(tempfile.mkdtemp(prefix="dkpy-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(workdir: Path) -> Iterator[Daemon]:
    running = Daemon(workdir).start()
    yield running
    running.close()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[Client]:
    with Client(daemon.socket) as connected:
        yield connected
