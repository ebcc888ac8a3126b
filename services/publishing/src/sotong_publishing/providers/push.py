"""News-app push (FCM HTTP v1 shape) through the multicast batch API: up to 500 device tokens a request.

The request's Idempotency-Key is the dispatch's base key and the provider keys each token `<base>:<token>`,
which is exactly the per-delivery key, so a batch re-sent after a crash (in whatever grouping) is deduplicated
per device. Per-token results: UNREGISTERED/INVALID_ARGUMENT fail that token for good, UNAVAILABLE/INTERNAL
are retried for that token only.
"""

from __future__ import annotations

from typing import Any

from sotong_publishing.idempotency import base_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job, UnexpectedAnswer, answer_field

MAX_BATCH = 500
_RETRYABLE = {"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED"}


class PushProvider(HttpProvider):
    kind = "push"
    max_batch = MAX_BATCH

    def __init__(self, name: str, base_url: str, token: str, project: str, **kwargs: Any) -> None:
        super().__init__(name, base_url, token, **kwargs)
        self.project = project

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        rendering = job.rendering()
        data = {"dispatch_id": job.dispatch_id, "message_id": job.dispatch.message_id, "purpose": job.dispatch.purpose}
        if rendering.url:
            data["url"] = rendering.url
        message = {"notification": {"title": rendering.title, "body": rendering.body}, "data": data}
        _, answer = await self.call(
            "POST",
            f"/projects/{self.project}/messages:multicast",
            base_key(job.dispatch_id),
            {"tokens": targets, "message": message},
        )
        responses = answer_field(answer, "responses")
        if not isinstance(responses, list):
            raise UnexpectedAnswer(f"{self.name}: responses is not a list")
        if answer.get("failureCount") == 0 and len(responses) == len(targets):
            delivered = ItemStatus.DELIVERED
            return [ItemResult(target, delivered) for target in targets]
        results: list[ItemResult] = []
        for index, target in enumerate(targets):
            item = responses[index] if index < len(responses) else None
            if not isinstance(item, dict):  # fewer results than tokens, or not an object: ask again for this one
                results.append(ItemResult(target, ItemStatus.RETRY, "no result for this token in the answer"))
                continue
            error = item.get("error")
            if error is None:
                results.append(ItemResult(target, ItemStatus.DELIVERED))
                continue
            if not isinstance(error, dict):
                results.append(ItemResult(target, ItemStatus.RETRY, f"unreadable error {str(error)[:100]!r}"))
                continue
            details = error.get("details")
            codes = (
                {str(d.get("errorCode", "")) for d in details if isinstance(d, dict)}
                if isinstance(details, list)
                else set()
            )
            codes.add(str(error.get("status", "")))
            status = ItemStatus.RETRY if codes & _RETRYABLE else ItemStatus.FAILED
            results.append(ItemResult(target, status, str(error.get("message", ""))))
        return results
