"""Fan-out of status changes to WatchSubmission streams from one LISTEN connection per process.

A connection per watcher would exhaust the pool with a few hundred open apps; instead one connection listens on
`intake_status` (notified in the same transaction as the change, see store.py) and wakes the watchers of that
submission, which then read the new history rows. Watchers also re-read every `poll_s`, so a notification lost
to a reconnect costs a poll interval, never a status change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg

from sotong_intake.store import STATUS_CHANNEL


class StatusWatch:
    def __init__(self, pool: asyncpg.Pool, poll_s: float = 5.0) -> None:
        self._pool = pool
        self._poll_s = poll_s
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None

    async def start(self) -> None:
        self._conn = await self._pool.acquire()
        await self._conn.add_listener(STATUS_CHANNEL, self._notified)

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.remove_listener(STATUS_CHANNEL, self._notified)
            await self._pool.release(self._conn)
            self._conn = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        for event in self._waiters.get(str(payload), ()):
            event.set()

    async def wakeups(self, submission_id: str) -> AsyncIterator[None]:
        """Yields when the submission may have changed (notified or poll interval); stops when the caller does."""
        event = asyncio.Event()
        self._waiters[submission_id].add(event)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=self._poll_s)
                event.clear()
                yield None
        finally:
            waiters = self._waiters.get(submission_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[submission_id]
