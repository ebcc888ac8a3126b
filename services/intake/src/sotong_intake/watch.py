"""Fan-out of status changes to WatchSubmission streams from one LISTEN connection per process.

A connection per watcher would exhaust the pool with a few hundred open apps; instead one connection listens on
`intake_status` (notified in the same transaction as the change, see store.py) and wakes the watchers of that
submission, which then read the new history rows. Watchers also re-read every `poll_s`, so a notification lost
to a reconnect (the database restarted: the listener comes back with backoff) costs a poll interval, never a
status change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg

from sotong_common import database, logs
from sotong_intake.store import STATUS_CHANNEL


class StatusWatch:
    def __init__(self, pool: asyncpg.Pool, poll_s: float = 5.0) -> None:
        self._pool = pool
        self._poll_s = poll_s
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._lost_link = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._log = logs.get("intake.watch")

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._keep_listening(), name="status-watch-listener")

    async def stop(self) -> None:
        self._stopping = True
        self._lost_link.set()
        if self._task is not None:
            await self._task
        await self._release()

    async def _listen(self) -> None:
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(STATUS_CHANNEL, self._notified)
            conn.add_termination_listener(self._lost)
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn = conn
        self._lost_link.clear()

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.remove_termination_listener(self._lost)
            await conn.remove_listener(STATUS_CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    async def _keep_listening(self) -> None:
        """Listen again after the database went away (a restart): until then watchers live on the poll."""
        backoff = 0.5
        while not self._stopping:
            await self._lost_link.wait()
            if self._stopping:
                return
            await self._release()
            try:
                await self._listen()
                self._log.info("status listener back")
                backoff = 0.5
            except database.UNAVAILABLE as error:
                self._log.warning(
                    "status listener unavailable; watchers re-read every poll", error=type(error).__name__
                )
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)

    def _lost(self, _conn: object) -> None:
        """The listening connection died: listen again, and wake every watcher to read what it may have missed."""
        self._lost_link.set()
        for events in self._waiters.values():
            for event in events:
                event.set()

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
