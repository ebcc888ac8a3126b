"""Reading untrusted CAP off the API's event loop, in another process, within a time budget.

Validation is linear now (`cap.validate`), but a 2 MiB document still costs tenths of a second of CPU, and the
API's event loop also answers health checks and every other RPC: an IngestCap must never make the process look
dead to Kubernetes. So documents are read by a child process (started on first use, spawned rather than
forked: the gRPC process has threads), one at a time, and a document that is not read within the budget is
answered with a clear error while the child is killed and replaced. A thread would free the loop but could not
be stopped, and would still compete for the interpreter lock; a process can be stopped and uses another core.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

from sotong_alerting.cap.parse import CapDocument, parse_cap

DEFAULT_BUDGET_S = 5.0


class ReadingFailed(Exception):
    """The document was not read: over the budget, or the reading process died on it."""


def _serve(conn: Connection) -> None:
    """The child: read documents until the parent closes its end."""
    while True:
        try:
            data, strict = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(parse_cap(data, strict=strict))


class CapReader:
    """Reads CAP documents in a child process, one at a time, each within `budget_s` seconds.

    The child is `python -m sotong_alerting.cap.reader FD`, talking over a socket pair (pickled requests and
    CapDocuments, both produced by this code): a fresh interpreter that imports only the CAP package, instead of
    a multiprocessing child that would re-run the parent's main module. The budget counts the reading only, not
    the wait for the child to start (the first call starts it) nor the wait for a previous document, so an honest
    document is not refused because a hostile one came first; the caller's own gRPC deadline bounds the waiting.
    """

    def __init__(self, budget_s: float = DEFAULT_BUDGET_S) -> None:
        self.budget_s = budget_s
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._turn = threading.Lock()  # one document at a time through the one connection
        self._queue: asyncio.Lock | None = None  # callers wait their turn on the event loop, not in threads
        self.restarts = 0
        """Children killed or lost because a document was not read (for tests and metrics)."""

    async def read(self, data: bytes, *, strict: bool = False) -> CapDocument:
        """The document as `parse_cap` reads it; ReadingFailed when over the budget or the child died."""
        if self._queue is None:
            self._queue = asyncio.Lock()
        async with self._queue:
            return await asyncio.to_thread(self.read_blocking, data, strict)

    def read_blocking(self, data: bytes, strict: bool = False) -> CapDocument:
        with self._turn:
            conn = self._started()
            try:
                conn.send((data, strict))
                if conn.poll(self.budget_s):
                    document: CapDocument = conn.recv()
                    return document
            except (EOFError, OSError):
                self._stop()
                self.restarts += 1
                raise ReadingFailed("the process reading CAP documents ended while reading this one") from None
            self._stop()
            self.restarts += 1
            raise ReadingFailed(f"reading the document took longer than its budget of {self.budget_s:g} s")

    def _started(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.poll() is None:
            return self._conn
        self._stop()
        ours, theirs = socket.socketpair()
        with ours, theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "sotong_alerting.cap.reader", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
            self._conn = Connection(ours.detach())
        self._process = process
        return self._conn

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=5)
        self._process, self._conn = None, None

    def close(self) -> None:
        """Stop the child (it also ends on its own when the parent goes away: its socket closes)."""
        with self._turn:
            self._stop()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
