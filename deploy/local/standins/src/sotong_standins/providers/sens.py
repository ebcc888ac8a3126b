"""What the SMS and KakaoTalk stand-ins share: both are modelled on Naver Cloud SENS, a Korean gateway that
fronts SMS/LMS and KakaoTalk Biz Messages (alimtalk, friendtalk) with one request and error style."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import web

MAX_MESSAGES_PER_REQUEST = 100  # SENS takes up to 100 entries in ``messages`` per request
KST = timedelta(hours=9)
_PHONE = re.compile(r"\d{8,15}")


def render_sens_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"errorCode": str(status), "message": message, "details": code}}, status=status)


def valid_phone(value: object) -> bool:
    """SENS takes digits only (no dashes or '+'); eight to fifteen covers 1588-style and mobile numbers."""
    return isinstance(value, str) and _PHONE.fullmatch(value) is not None


def request_id() -> str:
    return uuid.uuid4().hex.upper()


def request_time() -> str:
    """SENS reports times in Korean local time, formatted without a zone."""
    return (datetime.now(UTC) + KST).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def accepted_body(req_id: str) -> dict[str, str]:
    return {"requestId": req_id, "requestTime": request_time(), "statusCode": "202", "statusName": "success"}
