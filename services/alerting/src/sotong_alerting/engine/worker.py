"""`sotong-alerting-dispatch`: the publishing engine's process, one consumer per configured channel.

`SOTONG_ALERTING_DISPATCH_CHANNELS` (or `--channels sms,push`) chooses the channels a process serves, so a
deployment can give the SMS gateway its own pods; by default one process serves all eight, each channel with
its own consumer group, route (primary + fallback provider), breakers and buckets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from sotong.alerting.v1 import alerting_dispatch_pb2 as pb
from sotong_alerting.engine import settings
from sotong_alerting.engine.delivery import Route
from sotong_alerting.engine.directory import Directory
from sotong_alerting.engine.dispatch import Dispatcher
from sotong_alerting.engine.lanes import LANES, LaneConsumer, Precedence
from sotong_alerting.engine.providers.base import Provider, Refs
from sotong_alerting.engine.providers.chat import ChatProvider
from sotong_alerting.engine.providers.mail import MailProvider
from sotong_alerting.engine.providers.notice import NoticeProvider
from sotong_alerting.engine.providers.pager import PagerProvider
from sotong_alerting.engine.providers.push import PushProvider
from sotong_alerting.engine.providers.sens import KakaoProvider, SmsProvider
from sotong_alerting.engine.providers.sns import SnsProvider
from sotong_alerting.engine.retry import Backoff
from sotong_alerting.engine.store import DeliveryStore
from sotong_common import config, database, events, logs, metrics, producer, topics, tracing


def provider(kind: str, name: str, url: str, values: dict[str, Any], refs: Refs) -> Provider:
    """The adapter for `kind` pointed at `url` (a stand-in locally, the real endpoint in production)."""
    token: str = values["ALERTING_DISPATCH_TOKEN"]
    timeout: float = values["ALERTING_DISPATCH_TIMEOUT_S"]
    connections = max(8, values["ALERTING_DISPATCH_CONCURRENCY"] * 2)
    common: dict[str, Any] = {"timeout_s": timeout, "connections": connections}
    if kind == "chat":
        return ChatProvider(name, url, token, **common)
    if kind == "pager":
        return PagerProvider(name, url, token, values["ALERTING_DISPATCH_PAGER_ROUTING_KEY"], **common)
    if kind == "notice":
        return NoticeProvider(name, url, token, refs, values["ALERTING_DISPATCH_NOTICE_DEPARTMENT"], **common)
    if kind == "sns":
        return SnsProvider(name, url, token, **common)
    if kind == "push":
        return PushProvider(name, url, token, values["ALERTING_DISPATCH_PUSH_PROJECT"], **common)
    if kind == "sms":
        service = values["ALERTING_DISPATCH_SENS_SERVICE_ID"]
        return SmsProvider(name, url, token, service, values["ALERTING_DISPATCH_SMS_SENDER"], **common)
    if kind == "kakao":
        service = values["ALERTING_DISPATCH_SENS_SERVICE_ID"]
        return KakaoProvider(name, url, token, service, values["ALERTING_DISPATCH_KAKAO_CHANNEL"], **common)
    if kind == "mail":
        return MailProvider(name, url, token, values["ALERTING_DISPATCH_MAIL_FROM"], timeout)
    raise ValueError(f"no adapter for channel {kind}")


def build_route(kind: str, values: dict[str, Any], refs: Refs) -> Route:
    primaries: dict[str, str] = values["ALERTING_DISPATCH_PROVIDERS"]
    fallbacks: dict[str, str] = values["ALERTING_DISPATCH_FALLBACKS"]
    if kind not in primaries:
        raise config.ConfigError(f"SOTONG_ALERTING_DISPATCH_PROVIDERS has no URL for channel {kind}")
    primary = provider(kind, f"{kind}-primary", primaries[kind], values, refs)
    fallback = provider(kind, f"{kind}-fallback", fallbacks[kind], values, refs) if kind in fallbacks else None
    return Route(
        primary,
        fallback,
        Backoff(
            values["ALERTING_DISPATCH_BACKOFF_BASE_S"],
            values["ALERTING_DISPATCH_BACKOFF_CAP_S"],
            values["ALERTING_DISPATCH_MAX_ATTEMPTS"],
        ),
        breaker_failures=values["ALERTING_DISPATCH_BREAKER_FAILURES"],
        breaker_open_s=values["ALERTING_DISPATCH_BREAKER_OPEN_S"],
        rate_per_s=values["ALERTING_DISPATCH_RATE_LIMITS"].get(kind),
    )


def receipt_event_id(receipt: pb.DeliveryReported) -> str:
    """The same receipt gets the same event id when it is reported again after a crash, so consumers count it once.

    Nothing that changes between the two reports (the time) takes part; a batch receipt is told apart by its batch.
    """
    return events.derived_event_id(
        receipt.dispatch_id,
        f"receipt:{receipt.target}:{receipt.outcome}:{receipt.provider}:{receipt.delivered_count}:"
        f"{receipt.failed_count}:{receipt.batch}",
    )


async def serve(values: dict[str, Any]) -> None:
    log = logs.get("alerting.dispatch")
    pool = await database.connect(values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS, max_size=12)
    store = DeliveryStore(pool)
    sink = producer.durable(values["KAFKA_BOOTSTRAP"], "alerting-dispatch")
    await sink.start()
    directory = Directory(
        push_devices=values["ALERTING_DIRECTORY_PUSH_DEVICES"],
        sms_subscribers=values["ALERTING_DIRECTORY_SMS_SUBSCRIBERS"],
        kakao_friends=values["ALERTING_DIRECTORY_KAKAO_FRIENDS"],
    )

    async def report(receipt: pb.DeliveryReported) -> None:
        event_id = receipt_event_id(receipt)
        metadata = events.EventMetadata.new(topics.DELIVERY_REPORTED, "sotong-alerting-dispatch", event_id=event_id)
        await sink.send(
            topics.DELIVERY_REPORTED,
            value=events.encode(receipt),
            key=receipt.dispatch_id.encode(),
            headers=metadata.headers(),
        )

    consumers: list[LaneConsumer] = []
    routes: list[Route] = []
    for kind in values["ALERTING_DISPATCH_CHANNELS"]:
        route = build_route(kind, values, store)
        routes.append(route)
        dispatcher = Dispatcher(
            route,
            store,
            directory,
            report,
            concurrency=values["ALERTING_DISPATCH_CONCURRENCY"],
            receipt_targets_max=values["ALERTING_DISPATCH_RECEIPT_TARGETS_MAX"],
        )
        precedence = Precedence()
        for lane in LANES:
            consumers.append(LaneConsumer(kind, lane, values["KAFKA_BOOTSTRAP"], dispatcher, sink, precedence))
    await asyncio.gather(*(c.start() for c in consumers))
    log.info("dispatch worker started", channels=list(values["ALERTING_DISPATCH_CHANNELS"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runs = [asyncio.create_task(c.run(), name=f"dispatch-{c.kind}-{c.lane}") for c in consumers]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopper and task.exception() is not None:
            log.error("channel consumer crashed", error=repr(task.exception()))
    for consumer in consumers:
        await consumer.stop()
    for task in runs:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for consumer in consumers:
        with contextlib.suppress(Exception):
            await consumer.close()
    await sink.stop()
    for route in routes:
        await route.close()
    await pool.close()
    failed = [t for t in done if t is not stopper]
    if failed:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sotong-alerting-dispatch", description=__doc__.splitlines()[0])
    parser.add_argument("--channels", help="comma list overriding SOTONG_ALERTING_DISPATCH_CHANNELS")
    args = parser.parse_args(argv)
    values = config.load_or_exit(settings.WORKER)
    if args.channels:
        try:
            values["ALERTING_DISPATCH_CHANNELS"] = settings.parse_channels(args.channels)
        except ValueError as exc:
            parser.error(f"--channels: {exc}")
    logs.configure("alerting-dispatch", values["LOG_LEVEL"])
    tracing.configure("alerting", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    asyncio.run(serve(values))
