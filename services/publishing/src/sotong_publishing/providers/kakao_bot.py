"""KakaoTalk chatbot messages (Kakao i Open Builder event API shape): a message to users of the city's bot.

A citizen who reported through the city's KakaoTalk bot is known by their bot user key, not a phone number, and
a bot cannot speak first except through the event API: `POST /v2/bots/{botId}/talk` names an event whose block
shows `data.text` to each listed user. Up to 100 users a request; the request's Idempotency-Key is the
dispatch's base key and the provider keys each user `<base>:<user key>`, the per-delivery key.
"""

from __future__ import annotations

from typing import Any

from sotong_publishing.idempotency import base_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job, UnexpectedAnswer

MAX_BATCH = 100
MAX_TEXT = 1000


class KakaoBotProvider(HttpProvider):
    kind = "kakao_bot"
    max_batch = MAX_BATCH

    def __init__(self, name: str, base_url: str, token: str, bot_id: str, event: str, **kwargs: Any) -> None:
        super().__init__(name, base_url, token, **kwargs)
        self.bot_id = bot_id
        self.event = event

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        text = job.text()[:MAX_TEXT]
        body = {
            "event": {"name": self.event, "data": {"text": text}},
            "user": [{"type": "botUserKey", "id": target, "properties": {}} for target in targets],
            "params": {"purpose": job.dispatch.purpose},
        }
        _, answer = await self.call("POST", f"/v2/bots/{self.bot_id}/talk", base_key(job.dispatch_id), body)
        status = answer.get("status") if isinstance(answer, dict) else None
        if status == "SUCCESS":
            return [ItemResult(target, ItemStatus.DELIVERED) for target in targets]
        if status in ("FAIL", "ERROR"):
            reason = str(answer.get("message", ""))[:300]
            return [ItemResult(target, ItemStatus.FAILED, f"{status} {reason}") for target in targets]
        raise UnexpectedAnswer(f"{self.name}: the answer has no task status: {str(answer)[:200]!r}")
