"""One lifecycle for every Sotong process: start its parts in order, stop them in reverse, once.

Every process does the same things at start: read its settings (one line naming a bad variable, exit 2), set up
logs, tracing and the metrics endpoint, then open its pool (applying migrations), its producer, its outbox relay,
its consumers and its server. At SIGTERM (Kubernetes) or SIGINT it must undo them in reverse: stop taking work,
finish what is in flight, flush, commit, close. Written out in each `main()`, the order drifts and a part is
forgotten (a relay task that nobody stops, a producer left unflushed). So a process's `main()` is:

    def main() -> None:
        settings = ApiSettings.load_or_exit()
        process.run("intake-api", "intake", settings, serve)

    async def serve(proc: process.Process, settings: ApiSettings) -> None:
        pool = await proc.database(settings.database_url, SCHEMA, MIGRATIONS)
        kafka = await proc.producer(settings.kafka_bootstrap, "intake-api")
        proc.outbox_relay(pool, kafka, SCHEMA)
        await proc.grpc(server)

`serve` starts the parts through `proc`, each of which registers how to stop it, and returns; `run` then waits
for a signal, or for a part that ended on its own (a background task that crashed), and stops everything in
reverse order. A process with a dead part exits 1 so that its supervisor restarts it whole: half a process
(an API whose relay died) would accept work it never announces.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import asyncpg
import grpc
from aiokafka import AIOKafkaProducer

from sotong_common import config, database, dedup, logs, metrics, outbox, producer, tracing
from sotong_common.server import Server

S = TypeVar("S", bound=config.ProcessSettings)

STOP_GRACE_S = 20.0
"""How long one part may take to stop before it is cancelled (Kubernetes' default grace period is 30 s)."""


class Component(Protocol):
    """A part of a process with its own start and stop (a Faust worker, a batch consumer, an engine lane)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


StopStep = Callable[[], Awaitable[None]]


class Process:
    """The parts of one running process, in the order they started."""

    def __init__(self, name: str, settings: config.ProcessSettings) -> None:
        self.name = name
        self.settings = settings
        self.log = logs.get("process").bind(process=name)
        self._steps: list[tuple[str, StopStep]] = []
        self._stop = asyncio.Event()
        self._failed: list[str] = []
        self._stopping = False

    # Starting parts -----------------------------------------------------------------------------------------

    def on_stop(self, name: str, step: StopStep) -> None:
        """Run `step` when the process stops (after every part started later has stopped)."""
        self._steps.append((name, step))

    async def database(
        self, url: str, schema: str, migrations: str | None = None, *, min_size: int = 2, max_size: int = 10
    ) -> asyncpg.Pool:
        """The service's pool (migrations applied first); closed at stop."""
        pool = await database.connect(url, schema, migrations, min_size=min_size, max_size=max_size)
        self.on_stop(f"database pool ({schema})", pool.close)
        return pool

    async def producer(self, bootstrap: str, client_id: str) -> AIOKafkaProducer:
        """A durable producer (acks=all, idempotent); flushed and closed at stop."""
        kafka = producer.durable(bootstrap, client_id)
        await kafka.start()
        self.on_stop(f"producer {client_id}", kafka.stop)
        return kafka

    def outbox_relay(self, pool: asyncpg.Pool, kafka: AIOKafkaProducer, schema: str) -> outbox.OutboxRelay:
        """Publish this schema's outbox until stop (every replica runs one; a lock lets one publish at a time)."""
        relay = outbox.OutboxRelay(pool, kafka, schema)
        self.task(f"outbox relay ({schema})", relay.run, stop=relay.stop)
        return relay

    def purge_processed_events(self, pool: asyncpg.Pool, days: int = dedup.RETENTION_DAYS) -> None:
        """Forget processed event ids older than any redelivery can be, hourly (replicas may purge at once)."""

        async def purge() -> None:
            removed = await dedup.purge_older_than(pool, days)
            if removed:
                self.log.info("processed event ids purged", count=removed, older_than_days=days)

        self.every("processed-events purge", dedup.PURGE_INTERVAL_S, purge)

    async def grpc(self, server: Server) -> int:
        """Serve `server`; at stop its health turns NOT_SERVING and in-flight calls get a grace period."""
        port = await server.start()
        self.on_stop(f"grpc server {server.name}", server.stop)
        return port

    async def start(self, name: str, component: Component) -> None:
        """Start `component` now and stop it at stop."""
        await component.start()
        self.on_stop(name, component.stop)

    def task(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        stop: Callable[[], object] | None = None,
    ) -> asyncio.Task[None]:
        """Run `run()` in the background until the process stops.

        At stop, `stop()` (if given) asks it to finish, and it gets `STOP_GRACE_S` before it is cancelled. If it
        ends or raises before the process is stopping, the process stops and exits 1 (see the module doc).
        """

        async def body() -> None:
            await run()

        task = asyncio.create_task(body(), name=name)
        task.add_done_callback(lambda t: self._ended(name, t))

        async def stop_task() -> None:
            if stop is not None:
                result = stop()
                if inspect.isawaitable(result):
                    await result
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=STOP_GRACE_S)
                except TimeoutError:
                    self.log.warning("part did not stop in time; cancelling", part=name)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

        self.on_stop(name, stop_task)
        return task

    def every(self, name: str, interval_s: float, fn: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
        """Call `fn` every `interval_s` until stop; a failed call is logged and the next one goes on.

        For housekeeping whose state is durable (timers in PostgreSQL, a purge): a failure now is retried at the
        next tick, so it must not take the process down.
        """
        done = asyncio.Event()

        async def loop() -> None:
            while not done.is_set():
                try:
                    await fn()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.log.warning("periodic task failed; retrying at the next tick", part=name, error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=interval_s)

        return self.task(name, loop, stop=done.set)

    # Stopping -----------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the process to stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        error = None if task.cancelled() else task.exception()
        self.log.error("a part of the process ended on its own; stopping", part=name, error=repr(error),
                       exc_info=error)  # fmt: skip
        self._failed.append(name)
        self._stop.set()

    async def _shutdown(self) -> None:
        self._stopping = True
        started = time.monotonic()
        for name, step in reversed(self._steps):
            try:
                await asyncio.wait_for(step(), timeout=STOP_GRACE_S + 5)
            except Exception as exc:
                self.log.warning("part failed to stop cleanly", part=name, error=repr(exc))
        self._steps.clear()
        self.log.info("process stopped", seconds=round(time.monotonic() - started, 2))

    async def wait(self) -> None:
        await self._stop.wait()


Body = Callable[[Process, S], Awaitable[None]]


async def _lifecycle(name: str, settings: S, body: Body[S]) -> int:
    proc = Process(name, settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proc.stop)
    code = 0
    try:
        await body(proc, settings)
        # Everything built at start lives as long as the process: keep it out of the collector's full passes.
        gc.freeze()
        proc.log.info("process started")
        await proc.wait()
        if proc._failed:
            code = 1
    except Exception as exc:
        proc.log.error("process failed to start", error=repr(exc), exc_info=exc)
        code = 1
    finally:
        await proc._shutdown()
    return code


def run(name: str, service: str, settings: S, body: Body[S]) -> None:
    """Run a process: logs, tracing and metrics, then `body` and the lifecycle above; exits non-zero on failure."""
    logs.configure(name, settings.log_level)
    tracing.configure(service, settings.otel_exporter, settings.otel_file, settings.otel_endpoint)
    metrics.serve(settings.metrics_port, settings.listen_host)
    grpc.aio.init_grpc_aio()
    code = asyncio.run(_lifecycle(name, settings, body))
    if code:
        raise SystemExit(code)
