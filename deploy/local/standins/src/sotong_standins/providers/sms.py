"""SMS/LMS, shaped like Naver Cloud SENS ``POST /sms/v2/services/{serviceId}/messages``.

The limits are the ones that bite in production: content is measured in EUC-KR bytes (a Hangul syllable is two
bytes), SMS holds 90 bytes and LMS 2,000 with a 40-byte subject, characters EUC-KR cannot encode (most emoji)
fail the request, the sender number must be pre-registered, and one request carries at most 100 recipients.
Each recipient is one delivery keyed ``<Idempotency-Key>:<to>``, so a retried request sends nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .sens import MAX_MESSAGES_PER_REQUEST, accepted_body, render_sens_error, request_id, valid_phone
from .stand_in import StandIn

SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
SUBJECT_MAX_BYTES = 40
# Seoul City Hall's switchboard and the 120 Dasan call centre; more through POST /_control/sms/senders.
DEFAULT_SENDERS = ("0221330000", "0221331234", "120")


def _euc_kr_length(text: str) -> int | None:
    """Bytes in EUC-KR (cp949, as Korean carriers count them), or None when the text cannot be encoded."""
    try:
        return len(text.encode("cp949"))
    except UnicodeEncodeError:
        return None


class SmsStandIn(StandIn):
    name = "sms"
    realistic_rate_per_s: ClassVar[float | None] = 100.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        self.senders: set[str] = set(DEFAULT_SENDERS)
        self.by_type: Counter[str] = Counter()

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return render_sens_error(status, code, message)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/sms/v2/services/{service_id}/messages", self.send)]

    def control_routes(self) -> list[web.RouteDef]:
        return [web.post("/_control/sms/senders", self.register_senders)]

    def extra_stats(self) -> Mapping[str, Any]:
        return {"by_type": dict(self.by_type), "registered_senders": sorted(self.senders)}

    def reset(self) -> None:
        super().reset()
        self.by_type.clear()

    async def register_senders(self, request: web.Request) -> web.Response:
        body = await request.json()
        numbers = body.get("senders") if isinstance(body, dict) else None
        if not isinstance(numbers, list) or not all(valid_phone(n) or n == "120" for n in numbers):
            return web.json_response({"error": "senders must be a list of digit strings"}, status=400)
        self.senders.update(numbers)
        return web.json_response({"registered_senders": sorted(self.senders)})

    def _content_problem(self, kind: str, content: Any, subject: Any, where: str) -> str | None:
        if not isinstance(content, str) or not content:
            return f"{where}content is required"
        size = _euc_kr_length(content)
        if size is None:
            return f"{where}content has characters EUC-KR cannot encode (emoji?)"
        limit = SMS_MAX_BYTES if kind == "SMS" else LMS_MAX_BYTES
        if size > limit:
            return f"{where}content is {size} bytes, over the {limit}-byte {kind} limit"
        if subject is not None:
            if kind == "SMS":
                return f"{where}subject is only allowed for LMS/MMS"
            if not isinstance(subject, str):
                return f"{where}subject must be a string"
            subject_size = _euc_kr_length(subject)
            if subject_size is None or subject_size > SUBJECT_MAX_BYTES:
                return f"{where}subject must be at most {SUBJECT_MAX_BYTES} EUC-KR bytes"
        return None

    async def send(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        kind = body.get("type")
        if kind not in ("SMS", "LMS", "MMS"):
            return self.invalid("type must be SMS, LMS or MMS")
        if kind == "MMS" and not body.get("files"):
            kind = "LMS"  # SENS sends an MMS without attachments as an LMS
        if body.get("contentType", "COMM") not in ("COMM", "AD"):
            return self.invalid("contentType must be COMM or AD")
        sender = body.get("from")
        if not isinstance(sender, str) or not sender:
            return self.invalid("from is required")
        if sender not in self.senders:
            return self.invalid(f"from {sender!r} is not a registered sender number", "unregistered_sender")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.invalid("messages must be a non-empty list")
        if len(messages) > MAX_MESSAGES_PER_REQUEST:
            return self.invalid(f"messages holds at most {MAX_MESSAGES_PER_REQUEST} entries")
        default_content = body.get("content")
        default_subject = body.get("subject")
        problem = self._content_problem(kind, default_content, default_subject, "")
        if problem is not None:
            return self.invalid(problem)
        planned: list[tuple[str, str, str | None]] = []
        for index, entry in enumerate(messages):
            if not isinstance(entry, dict) or not valid_phone(entry.get("to")):
                return self.invalid(f"messages[{index}].to must be a phone number of digits only")
            content = entry.get("content", default_content)
            subject = entry.get("subject", default_subject)
            problem = self._content_problem(kind, content, subject, f"messages[{index}].")
            if problem is not None:
                return self.invalid(problem)
            planned.append((entry["to"], str(content), subject if isinstance(subject, str) else None))
        base_key = self.desk.idempotency_key(request)
        if base_key is None:
            return self.desk.missing_key()
        deliveries = [
            (f"{base_key}:{to}", to, content if subject is None else f"{subject}\n{content}")
            for to, content, subject in planned
        ]
        for key, to, text in deliveries:
            if self.desk.ledger.would_conflict(key, to, text):
                return self.desk.key_conflict(key)
        for key, to, text in deliveries:
            outcome, _ = self.desk.ledger.record(key, kind, to, text, {"from": sender, "type": kind})
            if outcome is Outcome.NEW:
                self.by_type[kind] += 1
        return self.finish(web.json_response(accepted_body(request_id()), status=202))
