"""The civil-complaint portal (응답소) notice board: ``POST /eungdapso/api/v1/notices``.

응답소 has no public posting API, so this follows the style of Seoul's own open APIs (``resultCode`` /
``resultMsg``). Stage 1 of the disaster flow posts an emergency notice here and stage 2 opens the portal for
citizens' feedback, hence ``feedback_open``. Notices are kept so a test can read one back, and an update or
cancellation must name the notice it changes (``refers_to``), which is how the portal threads them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .stand_in import StandIn

MAX_TITLE_CHARS = 100
MAX_CONTENT_CHARS = 4000
CATEGORIES = frozenset({"disaster", "notice", "update", "cancel", "all_clear", "survey"})
PORTAL_URL = "https://eungdapso.seoul.go.kr/Shr/Shr01/Shr01_vie.jsp?notice_id="


class NoticeStandIn(StandIn):
    name = "notice"
    realistic_rate_per_s: ClassVar[float | None] = 5.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        self.notices: dict[str, dict[str, Any]] = {}

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"resultCode": f"E{status}", "resultMsg": message, "reason": code}, status=status)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/eungdapso/api/v1/notices", self.post_notice),
            web.get("/eungdapso/api/v1/notices/{notice_id}", self.get_notice),
        ]

    def extra_stats(self) -> Mapping[str, Any]:
        return {
            "notices": len(self.notices),
            "by_category": dict(Counter(n["category"] for n in self.notices.values())),
            "feedback_open": sum(1 for n in self.notices.values() if n["feedback_open"]),
        }

    def reset(self) -> None:
        super().reset()
        self.notices.clear()

    async def get_notice(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        notice = self.notices.get(request.match_info["notice_id"])
        if notice is None:
            return self.desk.reject(404, "not_found", "해당 공지가 없습니다 (notice not found)")
        return web.json_response({"resultCode": "00", "resultMsg": "정상 처리되었습니다", "notice": notice})

    async def post_notice(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        title = body.get("title")
        content = body.get("content")
        category = body.get("category")
        department = body.get("department")
        refers_to = body.get("refers_to")
        if not isinstance(title, str) or not title.strip():
            return self.invalid("title is required")
        if len(title) > MAX_TITLE_CHARS:
            return self.invalid(f"title is longer than {MAX_TITLE_CHARS} characters")
        if not isinstance(content, str) or not content.strip():
            return self.invalid("content is required")
        if len(content) > MAX_CONTENT_CHARS:
            return self.invalid(f"content is longer than {MAX_CONTENT_CHARS} characters")
        if category not in CATEGORIES:
            return self.invalid(f"category must be one of {', '.join(sorted(CATEGORIES))}")
        if not isinstance(department, str) or not department:
            return self.invalid("department is required")
        if category in ("update", "cancel", "all_clear") and (
            not isinstance(refers_to, str) or refers_to not in self.notices
        ):
            return self.invalid(f"a {category} notice must refer to an existing notice (refers_to)")
        feedback_open = body.get("feedback_open", False)
        if not isinstance(feedback_open, bool):
            return self.invalid("feedback_open must be true or false")
        key = self.desk.idempotency_key(request)
        if key is None:
            return self.desk.missing_key()
        outcome, seq = self.desk.ledger.record(
            key, category, f"board:{category}", f"{title}\n{content}", {"department": department}
        )
        if outcome is Outcome.CONFLICT:
            return self.desk.key_conflict(key)
        notice_id = f"N{seq:08d}"
        if outcome is Outcome.NEW:
            self.notices[notice_id] = {
                "notice_id": notice_id,
                "title": title,
                "content": content,
                "category": category,
                "department": department,
                "refers_to": refers_to,
                "feedback_open": feedback_open,
                "url": PORTAL_URL + notice_id,
            }
        notice = self.notices[notice_id]
        return self.finish(
            web.json_response(
                {
                    "resultCode": "00",
                    "resultMsg": "정상 처리되었습니다",
                    "notice": {
                        "notice_id": notice_id,
                        "url": notice["url"],
                        "feedback_open": notice["feedback_open"],
                    },
                },
                status=201,
            )
        )
