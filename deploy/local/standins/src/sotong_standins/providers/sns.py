"""The city's official SNS accounts, shaped like the Facebook Graph API (``POST /{account-id}/feed``).

Seoul runs 150+ accounts for 100+ departments, so the stand-in keeps a registry: the city's own accounts, one per
district and one per department, on four platforms, each with its own length rule: X's 280 in twitter-text
weighted length (Hangul counts 2, a URL 23), Facebook's 63,206, Instagram's 2,200 and Threads' 500.
Posting for an unknown account fails with the Graph API's "object does not exist" error; more accounts can be
registered at run time through ``POST /_control/sns/accounts`` (the community service's account registry is the
source of truth in a real deployment). Errors are Graph-style ``{"error": {"message", "type", "code", ...}}``.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .stand_in import StandIn

PLATFORM_LIMITS = {"facebook": 63_206, "x": 280, "instagram": 2_200, "threads": 500}
X_URL_WEIGHT = 23
_URL = re.compile(r"https?://\S+")
# twitter-text v3: code points in these ranges weigh 1, everything else (Hangul, CJK, emoji) weighs 2
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
DISTRICTS = (
    "jongno", "jung", "yongsan", "seongdong", "gwangjin", "dongdaemun", "jungnang", "seongbuk", "gangbuk",
    "dobong", "nowon", "eunpyeong", "seodaemun", "mapo", "yangcheon", "gangseo", "guro", "geumcheon",
    "yeongdeungpo", "dongjak", "gwanak", "seocho", "gangnam", "songpa", "gangdong",
)  # fmt: skip
DEPARTMENT_ACCOUNTS = 110

_GRAPH_CODES = {400: (100, "OAuthException"), 401: (190, "OAuthException"), 404: (100, "GraphMethodException"),
                422: (100, "OAuthException"), 429: (4, "OAuthException")}  # fmt: skip


def x_weighted_length(text: str) -> int:
    """Length as X counts it, so a Korean post is refused at 140 syllables like the real API does."""
    length = 0
    last = 0
    for match in _URL.finditer(text):
        length += _weigh(text[last : match.start()]) + X_URL_WEIGHT
        last = match.end()
    return length + _weigh(text[last:])


def _weigh(text: str) -> int:
    total = 0
    for char in text:
        point = ord(char)
        total += 1 if any(low <= point <= high for low, high in _X_LIGHT_RANGES) else 2
    return total


def measured_length(platform: str, text: str) -> int:
    return x_weighted_length(text) if platform == "x" else len(text)


def default_accounts() -> dict[str, str]:
    """The registry a fresh stand-in starts with: account id -> platform (about 170 accounts)."""
    accounts = {
        "seoul": "facebook",
        "seoul_x": "x",
        "seoul_en": "facebook",
        "seoul_en_x": "x",
        "seoul_instagram": "instagram",
        "seoul_threads": "threads",
        # A private account the SNS team keeps for drills: exercises post here, never on a public account.
        "seoul_drill": "facebook",
    }
    for district in DISTRICTS:
        accounts[f"{district}-gu"] = "facebook"
        accounts[f"{district}-gu_x"] = "x"
    for number in range(1, DEPARTMENT_ACCOUNTS + 1):
        accounts[f"dept-{number:03d}"] = "facebook" if number % 3 else "x"
    return accounts


class SnsStandIn(StandIn):
    name = "sns"
    realistic_rate_per_s: ClassVar[float | None] = 50.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        self.accounts = default_accounts()
        self.posts_by_account: Counter[str] = Counter()

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        graph_code, kind = _GRAPH_CODES.get(status, (2, "OAuthException"))
        return web.json_response(
            {
                "error": {
                    "message": f"({code}) {message}",
                    "type": kind,
                    "code": graph_code,
                    "is_transient": status >= 500 or status == 429,
                    "fbtrace_id": uuid.uuid4().hex[:11],
                }
            },
            status=status,
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/sns/v19.0/{account_id}/feed", self.create_post),
            web.get("/sns/v19.0/accounts", self.list_accounts),
        ]

    def control_routes(self) -> list[web.RouteDef]:
        return [web.post("/_control/sns/accounts", self.register_accounts)]

    def extra_stats(self) -> Mapping[str, Any]:
        return {"registered_accounts": len(self.accounts), "accounts_posted_to": len(self.posts_by_account)}

    def reset(self) -> None:
        super().reset()
        self.posts_by_account.clear()

    async def list_accounts(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        return web.json_response(
            {"data": [{"id": account, "platform": platform} for account, platform in self.accounts.items()]}
        )

    async def register_accounts(self, request: web.Request) -> web.Response:
        body = await request.json()
        accounts = body.get("accounts") if isinstance(body, dict) else None
        if not isinstance(accounts, dict) or not all(
            isinstance(account, str) and platform in PLATFORM_LIMITS for account, platform in accounts.items()
        ):
            return web.json_response(
                {"error": f"accounts must map account ids to one of {sorted(PLATFORM_LIMITS)}"}, status=400
            )
        self.accounts.update(accounts)
        return web.json_response({"registered_accounts": len(self.accounts)})

    async def create_post(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        account = request.match_info["account_id"]
        platform = self.accounts.get(account)
        if platform is None:
            return self.desk.reject(404, "#803", f"Unsupported post request. Object with ID '{account}' does not exist")
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        message = body.get("message")
        link = body.get("link")
        if (not isinstance(message, str) or not message.strip()) and not link:
            return self.invalid("The parameter message or link is required", "#100")
        if message is not None and not isinstance(message, str):
            return self.invalid("The parameter message must be a string", "#100")
        if link is not None and (not isinstance(link, str) or not link.startswith(("http://", "https://"))):
            return self.invalid("The parameter link must be an http(s) URL", "#100")
        text = message or ""
        full_text = text if not link else f"{text}\n{link}"
        limit = PLATFORM_LIMITS[platform]
        length = measured_length(platform, full_text)
        if length > limit:
            return self.invalid(f"Message is {length} long, over the {limit} allowed on {platform}", "#100")
        key = self.desk.idempotency_key(request)
        if key is None:
            return self.desk.missing_key()
        outcome, seq = self.desk.ledger.record(key, platform, account, full_text)
        if outcome is Outcome.CONFLICT:
            return self.desk.key_conflict(key)
        if outcome is Outcome.NEW:
            self.posts_by_account[account] += 1
        return self.finish(web.json_response({"id": f"{account}_{seq}"}))
