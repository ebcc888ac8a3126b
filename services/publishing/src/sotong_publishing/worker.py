"""`sotong-publishing-dispatch`: the publishing engine's process, two lanes per configured channel.

`SOTONG_PUBLISHING_CHANNELS` (or `--channels sms,push`) chooses the channels a process serves, so a deployment
can give the SMS gateway its own pods; by default one process serves all nine, each channel with its own consumer
groups, route (primary + fallback provider), breakers and buckets. The process also keeps the directory (seeded
from the directory file, imports, and the directory-feed topics) and delivers held dispatches when they are due.
"""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_common import config, consumer, events, logs, process, topics
from sotong_publishing import directory, settings
from sotong_publishing.delivery import Route
from sotong_publishing.directory import DirectoryFile, Subscribers
from sotong_publishing.dispatch import Dispatcher, provider_accounts
from sotong_publishing.lanes import LANES, Delivering, LaneConsumer, Precedence, Scheduler, lane_topics
from sotong_publishing.providers.base import Provider, Refs
from sotong_publishing.providers.chat import ChatProvider
from sotong_publishing.providers.kakao_bot import KakaoBotProvider
from sotong_publishing.providers.mail import MailProvider
from sotong_publishing.providers.notice import NoticeProvider
from sotong_publishing.providers.pager import PagerProvider
from sotong_publishing.providers.push import PushProvider
from sotong_publishing.providers.sens import KakaoProvider, SmsProvider
from sotong_publishing.providers.sns import SnsProvider
from sotong_publishing.retry import Backoff
from sotong_publishing.store import DeliveryStore, DirectoryStore, Entry, ScheduleStore

SOURCE = "sotong-publishing"
SCHEDULE_INTERVAL_S = 1.0


def provider(kind: str, name: str, url: str, chosen: settings.Dispatch, refs: Refs) -> Provider:
    """The adapter for `kind` pointed at `url` (a stand-in locally, the real endpoint in production)."""
    token = chosen.publishing_provider_token
    common: dict[str, Any] = {
        "timeout_s": chosen.publishing_timeout_s,
        "connections": max(8, chosen.publishing_concurrency * 2),
    }
    if kind == "chat":
        return ChatProvider(name, url, token, **common)
    if kind == "pager":
        return PagerProvider(name, url, token, chosen.publishing_pager_routing_key, **common)
    if kind == "notice":
        return NoticeProvider(name, url, token, refs, chosen.publishing_notice_department, **common)
    if kind == "sns":
        return SnsProvider(name, url, token, **common)
    if kind == "push":
        return PushProvider(name, url, token, chosen.publishing_push_project, **common)
    if kind == "sms":
        service = chosen.publishing_sens_service_id
        return SmsProvider(name, url, token, service, chosen.publishing_sms_sender, **common)
    if kind == "kakao":
        service = chosen.publishing_sens_service_id
        return KakaoProvider(name, url, token, service, chosen.publishing_kakao_channel, **common)
    if kind == "kakao_bot":
        bot, event = chosen.publishing_kakao_bot_id, chosen.publishing_kakao_bot_event
        return KakaoBotProvider(name, url, token, bot, event, **common)
    if kind == "mail":
        return MailProvider(name, url, token, chosen.publishing_mail_from, chosen.publishing_timeout_s)
    raise ValueError(f"no adapter for channel {kind}")


def build_route(kind: str, chosen: settings.Dispatch, refs: Refs) -> Route:
    primaries, fallbacks = chosen.publishing_providers, chosen.publishing_fallbacks
    if kind not in primaries:
        raise config.ConfigError(f"{settings.PROVIDERS.env} has no URL for channel {kind}")
    primary = provider(kind, f"{kind}-primary", primaries[kind], chosen, refs)
    fallback = provider(kind, f"{kind}-fallback", fallbacks[kind], chosen, refs) if kind in fallbacks else None
    return Route(
        primary,
        fallback,
        Backoff(chosen.publishing_backoff_base_s, chosen.publishing_backoff_cap_s, chosen.publishing_max_attempts),
        breaker_failures=chosen.publishing_breaker_failures,
        breaker_open_s=chosen.publishing_breaker_open_s,
        rate_per_s=chosen.publishing_rate_limits.get(kind),
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


def reporter(sink: AIOKafkaProducer) -> Any:
    async def report(receipt: pb.DeliveryReported) -> None:
        metadata = events.EventMetadata.new(topics.DELIVERY_REPORTED, SOURCE, event_id=receipt_event_id(receipt))
        await sink.send(
            topics.DELIVERY_REPORTED,
            value=events.encode(receipt),
            key=receipt.dispatch_id.encode(),
            headers=metadata.headers(),
        )

    return report


async def seed_directory(chosen: settings.Dispatch, lists: DirectoryStore, routes: dict[str, Route]) -> None:
    """The directory file's lists (source config), then its imports from providers' registries (source provider).

    An import that fails (the provider is away, or answers in a shape nobody foresaw) keeps what the directory
    already holds and says so: yesterday's account list is better than none, and never a reason not to start.
    """
    log = logs.get("publishing.directory")
    spec = DirectoryFile.load(chosen.publishing_directory)
    active = await lists.seed(spec.lists, "config")
    log.info("directory seeded", source="config", lists=len(spec.lists), active=active)
    for name, _ in spec.imports.items():
        route = routes.get("sns") if name == directory.OFFICIAL_SNS else None
        if route is None or not isinstance(route.primary, SnsProvider):
            log.warning("directory import skipped: no provider serves it here", list=name)
            continue
        try:
            accounts = await provider_accounts(route.primary)
        except Exception as exc:
            log.error("directory import failed; keeping the stored list", list=name, error=repr(exc))
            continue
        drills = set(spec.lists.get(directory.drill_list("sns"), ()))
        imported = [a for a in accounts if a not in drills]
        active = await lists.seed({name: imported}, "provider")
        log.info(
            "directory imported",
            list=name,
            source="provider",
            active=active,
            drill_excluded=len(accounts) - len(imported),
        )


async def follow_directory(proc: process.Process, chosen: settings.Dispatch, lists: DirectoryStore) -> None:
    """Apply the catalog's directory-feed topics (e.g. community's SNS account registry) as they change."""
    feeds = [t.name for t in topics.of_kind(topics.DIRECTORY_FEED)]
    if not feeds:
        return
    from sotong_common import streams

    worker = streams.Worker("publishing-directory", chosen.kafka_bootstrap, chosen.topic_replication)
    for feed in feeds:

        async def apply(event: consumer.Received[pb.DirectoryEntryChanged], feed: str = feed) -> None:
            change = event.message
            if not change.list or not change.target:
                raise consumer.PoisonMessage("a directory entry needs a list and a target")
            entry = Entry(change.list, change.target, change.active, change.district_code, change.language,
                          change.display_name, change.version)  # fmt: skip
            await lists.apply(entry, topics.event_type(feed))

        apply.__name__ = f"apply_{topics.event_type(feed).replace('.', '_').replace('-', '_')}"
        worker.handler(feed, pb.DirectoryEntryChanged)(apply)
    proc.task("directory feeds", worker.run, stop=worker.stop)


async def serve(proc: process.Process, chosen: settings.Dispatch) -> None:
    log = logs.get("publishing.dispatch")
    pool: asyncpg.Pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS, max_size=12)
    sink = await proc.producer(chosen.kafka_bootstrap, "publishing-dispatch")
    store, lists, schedule = DeliveryStore(pool), DirectoryStore(pool), ScheduleStore(pool)
    subscribers = Subscribers(
        push_devices=chosen.publishing_directory_push_devices,
        sms_subscribers=chosen.publishing_directory_sms_subscribers,
        kakao_friends=chosen.publishing_directory_kakao_friends,
    )
    routes = {kind: build_route(kind, chosen, store) for kind in chosen.publishing_channels}
    for kind, route in routes.items():
        proc.on_stop(f"{kind} providers", route.close)
    await seed_directory(chosen, lists, routes)
    await follow_directory(proc, chosen, lists)
    report = reporter(sink)
    policy = consumer.Policy()
    channels: dict[str, Delivering] = {}
    for kind, route in routes.items():
        dispatcher = Dispatcher(
            route,
            store,
            lists,
            subscribers,
            report,
            opener=chosen.publishing_seal_keys,
            concurrency=chosen.publishing_concurrency,
            receipt_targets_max=chosen.publishing_receipt_targets_max,
        )
        delivering = Delivering(kind, dispatcher, sink, schedule, Precedence(), policy)
        channels[kind] = delivering
        for lane in LANES:
            lane_consumer = LaneConsumer(delivering, lane, chosen.kafka_bootstrap)
            await lane_consumer.start()
            proc.task(f"{kind} {lane} lane", lane_consumer.run, stop=lane_consumer.stop)
    scheduler = Scheduler(channels, schedule, set(lane_topics(topics.EMERGENCY)))
    proc.every("schedule", SCHEDULE_INTERVAL_S, scheduler.tick)
    log.info("publishing engine started", channels=list(routes))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sotong-publishing-dispatch",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=settings.Dispatch.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--channels", help="comma list overriding SOTONG_PUBLISHING_CHANNELS")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.channels:
        try:
            overrides["publishing_channels"] = settings.parse_channels(args.channels)
        except ValueError as exc:
            parser.error(f"--channels: {exc}")
    process.run("publishing-dispatch", "publishing", settings.Dispatch.load_or_exit(**overrides), serve)


if __name__ == "__main__":
    main()
