"""`sotong-publishing-replay`: re-publish dead-lettered dispatches to the topic they came from.

Reads the dead-letter topics of the catalog's dispatch-request topics up to their current end (records arriving
meanwhile wait for the next run), and re-publishes each record to the topic it came from, with its original key,
payload and event headers (the error headers are dropped and `sotong_replayed_from` says where it was).
Replaying is safe to repeat: the engine skips targets and batches it already finished, and every delivery
carries its derived idempotency key. A consumer group remembers how far the DLQ was replayed;
`--from-beginning` replays everything again.

    sotong-publishing-replay [--lane emergency|routine|all] [--dispatch-id ID]... [--from-beginning] [--dry-run]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from sotong_common import events, logs, producer, topics
from sotong_publishing import settings

REPLAYED_FROM = "sotong_replayed_from"


def lanes(choice: str) -> list[str]:
    """The dispatch-request topics of a lane (or of both), as the catalog declares them."""
    wanted = (topics.EMERGENCY, topics.ROUTINE) if choice == "all" else (choice,)
    return [t.name for t in topics.catalog() if t.kind == topics.DISPATCH_REQUEST and t.lane in wanted]


async def replay(
    bootstrap: str,
    lane_topics: list[str],
    dispatch_ids: set[str] | None = None,
    from_beginning: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Re-publish what is in the DLQs of `lane_topics` now; returns counts per lane."""
    from sotong.publishing.v1 import publishing_events_pb2 as pb

    prefix = topics.PREFIX.rstrip(".-")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"sotong-{prefix + '-' if prefix else ''}publishing-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    sink = producer.durable(bootstrap, "publishing-replay")
    await consumer.start()
    await sink.start()
    summary: dict[str, Any] = {"replayed": 0, "skipped": 0, "lanes": {}}
    try:
        partitions = [
            TopicPartition(topics.dlq_name(lane), p)
            for lane in lane_topics
            for p in sorted(consumer.partitions_for_topic(topics.dlq_name(lane)) or [0])
        ]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            if await consumer.position(tp) >= ends[tp]:
                continue
            while True:
                records = (await consumer.getmany(tp, timeout_ms=1000, max_records=500)).get(tp, [])
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    original = events.header(record.headers, events.H_ORIGINAL_TOPIC) or tp.topic.removesuffix(
                        topics.DLQ_SUFFIX
                    )
                    wanted = True
                    if dispatch_ids is not None:
                        try:
                            wanted = pb.DispatchRequested.FromString(record.value or b"").dispatch_id in dispatch_ids
                        except Exception:
                            wanted = False
                    if not wanted:
                        summary["skipped"] += 1
                        continue
                    headers = [(k, v) for k, v in record.headers if not k.startswith("sotong_")]
                    headers.append((REPLAYED_FROM, f"{tp.topic}:{tp.partition}:{record.offset}".encode()))
                    if not dry_run:
                        await sink.send(original, value=record.value, key=record.key, headers=headers)
                    summary["replayed"] += 1
                    summary["lanes"][original] = summary["lanes"].get(original, 0) + 1
                if await consumer.position(tp) >= ends[tp] or not records:
                    break
        await sink.flush()
        if not dry_run:
            await consumer.commit({tp: ends[tp] for tp in partitions})
    finally:
        await sink.stop()
        await consumer.stop()
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sotong-publishing-replay",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=settings.Replay.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--lane", choices=("emergency", "routine", "all"), default="all")
    parser.add_argument("--dispatch-id", action="append", help="replay only these dispatches (repeatable)")
    parser.add_argument("--from-beginning", action="store_true", help="replay records replayed before, too")
    parser.add_argument("--dry-run", action="store_true", help="count what would be replayed")
    args = parser.parse_args(argv)
    chosen = settings.Replay.load_or_exit()
    logs.configure("publishing-replay", chosen.log_level)
    summary = asyncio.run(
        replay(
            chosen.kafka_bootstrap,
            lanes(args.lane),
            set(args.dispatch_id) if args.dispatch_id else None,
            args.from_beginning,
            args.dry_run,
        )
    )
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
