"""The complaint portal (응답소) notice board: one notice per dispatch, threaded per incident.

Updates, cancellations and all-clears must name the notice they change (`refers_to`), so the first notice of
an incident is remembered (per provider, since a fallback portal numbers its own notices); stage 2 opens the
notice for citizens' feedback.
"""

from __future__ import annotations

from sotong_common import logs
from sotong_publishing.idempotency import delivery_key
from sotong_publishing.providers.base import HttpProvider, ItemResult, ItemStatus, Job, Refs

BOARD = "board"
_log = logs.get("publishing.notice")
_CATEGORY = {
    "stage1": "disaster",
    "stage2": "disaster",
    "update": "update",
    "cancel": "cancel",
    "all_clear": "all_clear",
}


class NoticeProvider(HttpProvider):
    kind = "notice"
    max_batch = 1

    def __init__(self, name: str, base_url: str, token: str, refs: Refs, department: str, **kwargs: float) -> None:
        super().__init__(name, base_url, token, **kwargs)  # type: ignore[arg-type]
        self.refs = refs
        self.department = department

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]:
        dispatch = job.dispatch
        category = _CATEGORY.get(dispatch.purpose, "notice")
        ref_kind = f"notice:{self.name}"
        refers_to = await self.refs.get_ref(dispatch.thread_id, ref_kind) if dispatch.thread_id else None
        if category in ("update", "cancel", "all_clear") and refers_to is None:
            category = "notice"  # nothing to thread onto: publish it as a plain notice rather than lose it
        rendering = job.rendering()
        body: dict[str, object] = {
            "title": (rendering.title or rendering.body)[:100],
            "content": job.text(with_title=False),
            "category": category,
            "department": self.department,
            "feedback_open": dispatch.purpose == "stage2",
        }
        if refers_to is not None and category != "disaster":
            body["refers_to"] = refers_to
        _, answer = await self.call("POST", "/notices", delivery_key(job.dispatch_id, targets[0]), body)
        notice = answer.get("notice") if isinstance(answer, dict) else None
        notice_id = notice.get("notice_id") if isinstance(notice, dict) else None
        if notice_id is None:
            # Posted (2xx), but without the id later updates thread onto: they go out as plain notices.
            _log.warning("notice posted without an id in the answer", provider=self.name, answer=str(answer)[:200])
        elif dispatch.thread_id and refers_to is None:
            await self.refs.put_ref(dispatch.thread_id, ref_kind, str(notice_id))
        return [ItemResult(targets[0], ItemStatus.DELIVERED)]
