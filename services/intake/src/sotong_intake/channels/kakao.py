"""KakaoTalk channel chatbot (Kakao i Open Builder skill) requests and responses.

The city's KakaoTalk channel has an Open Builder bot whose "민원 접수" / "재난 제보" blocks call intake as a skill.
A skill request carries what the citizen typed (`userRequest.utterance`), who they are to this bot
(`userRequest.user.id`, the bot user key), which block fired (`userRequest.block`), the parameters the block
extracted (`action.params`, e.g. an address from `sys_location`, photos from the secure-image plugin) and any
`contexts` set by earlier turns (our bot keeps the chosen category and a shared location there).

The skill must answer within 5 seconds with a version "2.0" response, or Kakao shows an error and may call again.
Kakao sends no message id, so `skill_message_id` derives one from the request and the minute it arrived; a
retry of the same request within that minute maps to the same id and is deduplicated. A citizen sending the very
same text twice within one minute is, for intake, the same submission, which is acceptable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sotong_intake.category import guess_category
from sotong_intake.channels.payload import Reader
from sotong_intake.submission import (
    Channel,
    Contact,
    FieldViolation,
    Location,
    Submission,
    SubmissionKind,
    clean_text,
)

SIMPLE_TEXT_MAX = 1000  # Open Builder truncates simpleText beyond this
QUICK_REPLIES_MAX = 10
QUICK_REPLY_LABEL_MAX = 14

# Block names configured in the city's bot, mapped to what the citizen is doing.
BLOCK_KINDS: Mapping[str, SubmissionKind] = {
    "민원 접수": SubmissionKind.COMPLAINT,
    "불편 신고": SubmissionKind.REPORT,
    "재난 제보": SubmissionKind.DISASTER_REPORT,
    "시정 의견": SubmissionKind.OPINION,
}

_SECURE_URLS = re.compile(r"List\((.*)\)", re.DOTALL)


def skill_message_id(payload: Mapping[str, Any], received_at: datetime) -> str:
    """Idempotency key for a skill request (see module doc): stable across Kakao's retries of one request."""
    user = payload.get("userRequest", {}) if isinstance(payload, Mapping) else {}
    parts = {
        "user": (user.get("user") or {}).get("id") if isinstance(user, Mapping) else None,
        "block": (user.get("block") or {}).get("id") if isinstance(user, Mapping) else None,
        "utterance": user.get("utterance") if isinstance(user, Mapping) else None,
        "params": payload.get("action", {}).get("params") if isinstance(payload.get("action"), Mapping) else None,
        "minute": received_at.astimezone(UTC).strftime("%Y%m%d%H%M"),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return "kakao-" + digest[:40]


def submission_from_skill(payload: Mapping[str, Any], received_at: datetime) -> Submission:
    """Map a skill request to a submission; raises `ChannelPayloadError` if its structure is broken."""
    read = Reader()
    user_request = read.obj(payload, "userRequest", "userRequest", required=True)
    utterance = read.text(user_request, "utterance", "userRequest.utterance", required=True)
    user = read.obj(user_request, "user", "userRequest.user", required=True)
    user_id = read.text(user, "id", "userRequest.user.id", required=True)
    block = read.obj(user_request, "block", "userRequest.block")
    block_name = read.text(block, "name", "userRequest.block.name")
    action = read.obj(payload, "action", "action")
    params = read.obj(action, "params", "action.params")
    bot = read.obj(payload, "bot", "bot")
    bot_id = read.text(bot, "id", "bot.id")
    context_params = _context_params(payload, read)
    read.raise_if_failed()

    def param(name: str) -> str | None:
        for source in (params, context_params):
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    text = clean_text(param("description") or utterance or "")
    kind = BLOCK_KINDS.get(block_name or "", SubmissionKind.COMPLAINT)
    if param("kind"):
        kind_param = param("kind") or ""
        kind = SubmissionKind(kind_param) if kind_param in set(SubmissionKind) else kind
    category_code = param("category")
    if category_code is None:
        guessed = guess_category(text)
        category_code = guessed.code if guessed else None

    lat = _first(read.number(params, "lat", "action.params.lat"), read.number(context_params, "lat", "contexts.lat"))
    lng = _first(read.number(params, "lng", "action.params.lng"), read.number(context_params, "lng", "contexts.lng"))
    point = read.point(lat, lng, "location")
    read.raise_if_failed()
    address = param("sys_location") or param("address")
    location = Location(point=point, address=address) if point or address else None

    return Submission(
        kind=kind,
        text=text,
        channel=Channel.KAKAO,
        channel_message_id=skill_message_id(payload, received_at),
        source=f"kakao-bot-{bot_id}" if bot_id else "kakao",
        category=category_code,
        location=location,
        media=_secure_image_urls(params.get("sys_plugin_secureimage") or params.get("secureimage")),
        contact=Contact(channel_user_id=user_id, phone=param("phone")),
        submitted_at=received_at.astimezone(UTC),
    )


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _context_params(payload: Mapping[str, Any], read: Reader) -> dict[str, str]:
    """Flatten `contexts[].params[name].value` into one dict; later contexts do not override earlier ones."""
    flat: dict[str, str] = {}
    contexts = payload.get("contexts")
    if contexts is None:
        return flat
    if not isinstance(contexts, list):
        read.fail("contexts", "must be a list")
        return flat
    for i, context in enumerate(contexts):
        params = read.obj(context, "params", f"contexts[{i}].params")
        for name, entry in params.items():
            value = entry.get("value") if isinstance(entry, Mapping) else entry
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                flat.setdefault(name, str(value))
    return flat


def _secure_image_urls(raw: Any) -> tuple[str, ...]:
    """Photo URLs from the secure-image plugin, whose value is JSON with secureUrls = "List(url, url)"."""
    if not isinstance(raw, str):
        return ()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return ()
    urls = data.get("secureUrls") if isinstance(data, Mapping) else None
    if not isinstance(urls, str):
        return ()
    match = _SECURE_URLS.fullmatch(urls.strip())
    inner = match.group(1) if match else urls
    return tuple(u.strip() for u in inner.split(",") if u.strip())


# -- responses -------------------------------------------------------------------------------------------------


def text_response(*texts: str, quick_replies: Sequence[str] = ()) -> dict[str, Any]:
    """A version 2.0 skill response of simpleText outputs (at most 3) and message quick replies."""
    if not 1 <= len(texts) <= 3:
        raise ValueError("a skill response carries one to three outputs")
    template: dict[str, Any] = {
        "outputs": [{"simpleText": {"text": _fit(t, SIMPLE_TEXT_MAX)}} for t in texts],
    }
    if quick_replies:
        template["quickReplies"] = [
            {"label": _fit(label, QUICK_REPLY_LABEL_MAX), "action": "message", "messageText": label}
            for label in list(quick_replies)[:QUICK_REPLIES_MAX]
        ]
    return {"version": "2.0", "template": template}


def receipt_response(reference: str, kind: str) -> dict[str, Any]:
    """What the citizen sees after a submission was accepted; the reference lets them ask about it later."""
    what = {
        SubmissionKind.DISASTER_REPORT: "재난 제보",
        SubmissionKind.OPINION: "의견",
        SubmissionKind.REPORT: "신고",
    }.get(SubmissionKind(kind) if kind in set(SubmissionKind) else SubmissionKind.COMPLAINT, "민원")
    return text_response(
        f"{what}이(가) 접수되었습니다.\n접수번호: {reference}\n처리 결과는 이 채널로 알려 드립니다.",
        quick_replies=("처리 현황", "처음으로"),
    )


_FIELD_NAMES_KO = {
    "text": "내용",
    "location": "위치",
    "location.lat": "위치",
    "location.lng": "위치",
    "media": "사진",
    "category": "분류",
    "contact.phone": "연락처",
}


def rejection_response(violations: Sequence[FieldViolation]) -> dict[str, Any]:
    """Tell the citizen, in Korean and without internal jargon, what to fix."""
    names = sorted({_FIELD_NAMES_KO.get(v.field.split("[")[0], "입력") for v in violations})
    return text_response(
        f"접수하지 못했습니다. 다음 항목을 확인해 주세요: {', '.join(names)}",
        quick_replies=("다시 입력", "처음으로"),
    )


def retry_later_response() -> dict[str, Any]:
    """The report could not be made durable in time (a system restarting): nothing was filed, so ask again."""
    return text_response(
        "지금은 접수가 지연되고 있습니다. 잠시 후 같은 내용을 다시 보내 주세요.",
        quick_replies=("다시 보내기", "처음으로"),
    )


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
