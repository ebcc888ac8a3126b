"""The city's SNS accounts (Graph API shape): one post per account.

The audience "all" means every registered account, read from the provider's account list, so a new
district or department account receives alerts without a code change. Accounts whose id ends in `_en` get the
English rendering.
"""

from __future__ import annotations

from sotong_publishing.idempotency import delivery_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job, UnexpectedAnswer, answer_field


class SnsProvider(HttpProvider):
    kind = "sns"
    max_batch = 1

    async def accounts(self) -> list[str]:
        _, answer = await self.call("GET", "/accounts", None)
        entries = answer_field(answer, "data")
        if not isinstance(entries, list):
            raise UnexpectedAnswer(f"{self.name}: /accounts data is not a list")
        return [str(entry["id"]) for entry in entries if isinstance(entry, dict) and entry.get("id")]

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        account = targets[0]
        language = "en" if account.endswith("_en") or "_en_" in account else "ko"
        rendering = job.rendering(language)
        body: dict[str, str] = {"message": rendering.body or rendering.title}
        if rendering.url:
            body["link"] = rendering.url
        await self.call("POST", f"/{account}/feed", delivery_key(job.dispatch_id, account), body)
        return [ItemResult(account, ItemStatus.DELIVERED)]
