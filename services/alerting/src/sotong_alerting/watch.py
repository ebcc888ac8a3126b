"""WatchIncident streams woken by one LISTEN connection per process, and a bound on streams per caller.

Each stream used to read the incident's log every 250 ms, so a hundred idle consoles cost 400 queries a second
and a caller could open streams without end. Now a trigger notifies `alerting_timeline` with the incident id
whenever an entry is appended (migration 0002, in the appending transaction, so the notification arrives after
the commit), one connection of the API process listens, and only the watchers of that incident read their new
entries. The connection is held only while someone watches, so an idle API holds none and a shutdown that ends
the streams gives it back to the pool. After the connection is lost every watcher is woken once (what was
notified meanwhile is read then), and a slow backstop re-read bounds what any lost notification can cost.

Each caller (token subject) may hold `max_per_caller` streams; one more is RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg

from sotong_common import logs
from sotong_common.errors import ResourceExhausted

CHANNEL = "alerting_timeline"
MAX_STREAMS_PER_CALLER = 8
BACKSTOP_S = 30.0


class TimelineWatch:
    """Wakes the watchers of an incident when its log grows; one LISTEN connection, held while anyone watches."""

    def __init__(
        self, pool: asyncpg.Pool, *, max_per_caller: int = MAX_STREAMS_PER_CALLER, backstop_s: float = BACKSTOP_S
    ) -> None:
        self._pool = pool
        self.max_per_caller = max_per_caller
        self.backstop_s = backstop_s
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._streams: Counter[str] = Counter()
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._releases: set[asyncio.Task[None]] = set()  # referenced until done, so none is collected midway
        self._log = logs.get("alerting.watch")

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def streams_of(self, caller: str) -> int:
        return self._streams[caller]

    @contextlib.contextmanager
    def stream_of(self, caller: str) -> Iterator[None]:
        """Count one open stream for `caller` while the block runs; RESOURCE_EXHAUSTED when over the bound."""
        if self._streams[caller] >= self.max_per_caller:
            raise ResourceExhausted(
                f"{caller} already has {self._streams[caller]} WatchIncident streams open; at most "
                f"{self.max_per_caller} per caller: close one (or watch ListIncidents) first"
            )
        self._streams[caller] += 1
        try:
            yield
        finally:
            self._streams[caller] -= 1
            if not self._streams[caller]:
                del self._streams[caller]

    @contextlib.asynccontextmanager
    async def subscribe(self, incident_id: str) -> AsyncIterator[Wakeup]:
        """Register for the incident's notifications; read the log only after entering, so nothing falls between."""
        event = asyncio.Event()
        self._waiters[incident_id].add(event)
        try:
            await self._ensure_listening()
            yield Wakeup(self, event)
        finally:
            waiters = self._waiters.get(incident_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[incident_id]
            if not self._waiters:
                # Not awaited here: a stream being cancelled must not wait on the pool; a task gives it back.
                task = asyncio.get_running_loop().create_task(self._release_if_idle())
                self._releases.add(task)
                task.add_done_callback(self._releases.discard)

    async def _ensure_listening(self) -> None:
        """Listen unless already listening; when the database refuses, watchers live on the backstop re-read."""
        try:
            await self._listen()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._log.warning("timeline listener unavailable; watchers re-read on the backstop", error=str(error))

    async def _listen(self) -> None:
        async with self._lock:
            if self._conn is not None:
                return
            conn = await self._pool.acquire()
            try:
                await conn.add_listener(CHANNEL, self._notified)
                conn.add_termination_listener(self._lost)
            except BaseException:
                await self._pool.release(conn)
                raise
            self._conn = conn

    async def _release_if_idle(self) -> None:
        async with self._lock:
            if self._waiters or self._conn is None:
                return
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.remove_listener(CHANNEL, self._notified)
                conn.remove_termination_listener(self._lost)
            with contextlib.suppress(Exception):
                await self._pool.release(conn)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        for event in self._waiters.get(str(payload), ()):
            event.set()

    def _lost(self, _conn: object) -> None:
        """The listening connection died: forget it, and wake every watcher to read what it may have missed."""
        self._log.warning("timeline listener connection lost; watchers re-read", watchers=len(self._waiters))
        self._conn = None
        for events in self._waiters.values():
            for event in events:
                event.set()


class Wakeup:
    """One watcher's wake-up: `wait` returns when its incident's log may have grown (or the backstop passed)."""

    def __init__(self, watch: TimelineWatch, event: asyncio.Event) -> None:
        self._watch = watch
        self._event = event

    async def wait(self) -> None:
        await self._watch._ensure_listening()  # after a lost connection, listen again
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout=self._watch.backstop_s)
        self._event.clear()
