"""Server-sent events: what changes on an open page is pushed to it, so nobody refreshes in a stressful moment.

One stream per open page, as the signed-in person: entries of a gRPC server stream (an incident's timeline from
WatchIncident through the gateway) and fragments re-read every `CONSOLE_REFRESH_S` seconds and sent only when
they changed (delivery counts, the open incidents, what waits for review). htmx's SSE extension swaps each named
event into the page. A comment line every 15 s finds browsers that went away; the stream ends when the session
does (a `signed-out` event tells the page) and when the process stops (the browser reconnects to a replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import Gauge

from sotong_common import logs
from sotong_console.gateway import Refused
from sotong_console.sessions import Session

HEARTBEAT_S = 15.0
STREAMS = Gauge("sotong_console_live_streams", "server-sent event streams open")
_log = logs.get("console.live")

Put = Callable[[bytes], Coroutine[Any, Any, None]]
Source = Callable[[Put], Coroutine[Any, Any, None]]
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def event(name: str, html: str, event_id: str | None = None) -> bytes:
    """One SSE event: a name, an optional id (the browser sends it back as Last-Event-ID) and its lines."""
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in (html.splitlines() or [""]))
    return ("\n".join(lines) + "\n\n").encode()


def polled(name: str, read: Callable[[], Awaitable[str]], every_s: float) -> Source:
    """Read a fragment every `every_s` seconds and send it when it differs from the last one sent."""

    async def run(put: Put) -> None:
        last: str | None = None
        pause = every_s
        while True:
            try:
                html = await read()
            except Refused as refused:
                if refused.code not in TRANSIENT:
                    raise
                pause = min(pause * 2, 30.0)  # the gateway is away or busy: back off, keep the page
            else:
                pause = every_s
                if html != last:
                    await put(event(name, html))
                    last = html
            await asyncio.sleep(pause)

    return run


def streamed(name: str, items: Callable[[], AsyncIterator[tuple[str, str]]]) -> Source:
    """Send each (id, html) a server stream yields, as event `name`."""

    async def run(put: Put) -> None:
        async for item_id, html in items():
            await put(event(name, html, item_id))

    return run


async def serve(
    request: web.Request, session: Session, closing: asyncio.Event, sources: list[Source], signed_out_html: str
) -> web.StreamResponse:
    """Run `sources` into one event stream until the browser leaves, the session ends or the process stops."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)
    tasks = [asyncio.create_task(source(queue.put)) for source in sources]
    STREAMS.inc()
    last_write = time.monotonic()
    try:
        await response.write(b"retry: 3000\n\n")
        while not closing.is_set():
            if session.expired:
                await response.write(event("signed-out", signed_out_html))
                break
            ended = next((t for t in tasks if t.done()), None)
            if ended is not None and queue.empty():
                error = ended.exception()
                if isinstance(error, Refused) and error.code == grpc.StatusCode.UNAUTHENTICATED:
                    await response.write(event("signed-out", signed_out_html))
                elif error is not None:
                    _log.warning("live source ended", path=request.path, error=str(error))
                break
            try:
                chunk = await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                if time.monotonic() - last_write < HEARTBEAT_S:
                    continue
                chunk = b": still here\n\n"
            await response.write(chunk)
            last_write = time.monotonic()
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        STREAMS.dec()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    return response
