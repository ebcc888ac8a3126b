"""Group chat (KakaoWork bot API shape): open the incident's response room, then post into it.

The dispatch's targets are the room's members (user ids); the delivery target is the room itself, so a
dispatch to chat is one delivery. Opening is keyed by incident and member set, so every message of an incident
lands in the same room, and a retried open returns that room rather than creating a second one.
"""

from __future__ import annotations

import hashlib

from sotong_publishing.idempotency import delivery_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job, PermanentError, answer_field


def room_target(job: Job) -> str:
    thread = job.dispatch.thread_id or job.dispatch.message_id
    return f"room:drill:{thread}" if job.dispatch.exercise else f"room:{thread}"


class ChatProvider(HttpProvider):
    kind = "chat"
    max_batch = 1

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        members = sorted(set(job.members or job.dispatch.audience.targets))
        if not members:
            raise PermanentError("group chat needs the room's members in audience.targets")
        incident = job.dispatch.thread_id or job.dispatch.message_id
        digest = hashlib.sha256(",".join(members).encode()).hexdigest()[:16]
        name = f"[훈련] {incident}" if job.dispatch.exercise else f"[재난대응] {incident}"
        _, opened = await self.call(
            "POST",
            "/conversations.open",
            f"{room_target(job)}:{digest}",
            {"user_ids": members, "conversation_name": name},
        )
        conversation_id = str(answer_field(opened, "conversation", "id"))
        await self.call(
            "POST",
            "/messages.send",
            delivery_key(job.dispatch_id, targets[0]),
            {"conversation_id": conversation_id, "text": job.text()[:4000]},
        )
        return [ItemResult(targets[0], ItemStatus.DELIVERED)]
