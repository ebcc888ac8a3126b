"""Pager (PagerDuty Events API v2 shape): one trigger event per duty officer.

A target that is a 32-character integration key is paged on it; any other target (an officer id) is paged on
the configured routing key with the officer in `dedup_key`, so the pager keeps one incident per officer and
message and a re-sent trigger joins it instead of ringing twice.
"""

from __future__ import annotations

from sotong.publishing.v1 import publishing_events_pb2 as pb
from sotong_publishing.idempotency import delivery_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job

ROUTING_KEY_LENGTH = 32


class PagerProvider(HttpProvider):
    kind = "pager"
    max_batch = 1

    def __init__(self, name: str, base_url: str, token: str, routing_key: str, **kwargs: float) -> None:
        super().__init__(name, base_url, token, **kwargs)  # type: ignore[arg-type]
        self.routing_key = routing_key

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        target = targets[0]
        routing_key = target if len(target) == ROUTING_KEY_LENGTH else self.routing_key
        emergency = job.dispatch.priority == pb.PRIORITY_EMERGENCY
        await self.call(
            "POST",
            "/enqueue",
            delivery_key(job.dispatch_id, target),
            {
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": f"{job.dispatch.message_id or job.dispatch_id}:{target}"[:255],
                "payload": {
                    "summary": job.text(with_url=False)[:1024],
                    "source": "sotong-alerting",
                    "severity": "critical" if emergency else "warning",
                    "custom_details": {"incident_id": job.dispatch.thread_id, "officer": target},
                },
            },
        )
        return [ItemResult(target, ItemStatus.DELIVERED)]
