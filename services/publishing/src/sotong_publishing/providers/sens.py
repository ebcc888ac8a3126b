"""SMS and KakaoTalk channel messages through a SENS-style gateway: up to 100 recipients a request.

Both take the dispatch's base key in the Idempotency-Key header and key each recipient `<base>:<number>`.
SMS becomes LMS (with the title as subject) when the text is over 90 EUC-KR bytes. KakaoTalk uses alimtalk
with the approved template when the rendering names one (variables filled by the provider), else friendtalk.
"""

from __future__ import annotations

from typing import Any

from sotong_publishing.idempotency import base_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job, UnexpectedAnswer

MAX_BATCH = 100
SMS_MAX_BYTES = 90
SUBJECT_MAX_BYTES = 40


def _euc_kr_length(text: str) -> int:
    return len(text.encode("euc-kr", errors="replace"))


class SmsProvider(HttpProvider):
    kind = "sms"
    max_batch = MAX_BATCH

    def __init__(self, name: str, base_url: str, token: str, service_id: str, sender: str, **kwargs: Any) -> None:
        super().__init__(name, base_url, token, **kwargs)
        self.service_id = service_id
        self.sender = sender

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        rendering = job.rendering()
        content = rendering.body or rendering.title
        body: dict[str, Any] = {"type": "SMS", "contentType": "COMM", "from": self.sender, "content": content}
        if _euc_kr_length(content) > SMS_MAX_BYTES:
            body["type"] = "LMS"
            if rendering.title and _euc_kr_length(rendering.title) <= SUBJECT_MAX_BYTES:
                body["subject"] = rendering.title
        body["messages"] = [{"to": to} for to in targets]
        await self.call("POST", f"/services/{self.service_id}/messages", base_key(job.dispatch_id), body)
        return [ItemResult(to, ItemStatus.DELIVERED) for to in targets]


class KakaoProvider(HttpProvider):
    kind = "kakao"
    max_batch = MAX_BATCH

    def __init__(self, name: str, base_url: str, token: str, service_id: str, channel: str, **kwargs: Any) -> None:
        super().__init__(name, base_url, token, **kwargs)
        self.service_id = service_id
        self.channel = channel

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        rendering = job.rendering()
        body: dict[str, Any] = {"plusFriendId": self.channel}
        if rendering.template_code:
            body["templateCode"] = rendering.template_code
            variables = dict(rendering.variables)
            body["messages"] = [{"to": to, "variables": variables} for to in targets]
            path = f"/alimtalk/v2/services/{self.service_id}/messages"
        else:
            content = job.text()
            body["messages"] = [{"to": to, "content": content} for to in targets]
            path = f"/friendtalk/v2/services/{self.service_id}/messages"
        _, answer = await self.call("POST", path, base_key(job.dispatch_id), body)
        entries = answer.get("messages") if isinstance(answer, dict) else None
        if not isinstance(entries, list):
            raise UnexpectedAnswer(f"{self.name}: the answer has no list of messages: {str(answer)[:200]!r}")
        by_number = {str(entry.get("to")): entry for entry in entries if isinstance(entry, dict)}
        results: list[ItemResult] = []
        for to in targets:
            entry = by_number.get(to)
            if entry is None:
                results.append(ItemResult(to, ItemStatus.RETRY, "no result for this recipient"))
            elif entry.get("requestStatusCode") == "A000":
                results.append(ItemResult(to, ItemStatus.DELIVERED))
            else:
                code = entry.get("requestStatusCode")
                results.append(ItemResult(to, ItemStatus.FAILED, f"{code} {entry.get('requestStatusDesc', '')}"))
        return results
