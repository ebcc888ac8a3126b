"""One module per external provider the publishing engine talks to; each is a ``StandIn`` subclass.

A stand-in contributes only what is particular to its provider: URL shapes, request validation, error bodies
and the per-provider view it adds to stats. Everything shared (auth, limits, faults, the idempotency record)
comes from its ``ProviderDesk``.
"""

from __future__ import annotations

from .chat import ChatStandIn
from .kakao import KakaoStandIn
from .kakao_bot import KakaoBotStandIn
from .notice import NoticeStandIn
from .pager import PagerStandIn
from .push import PushStandIn
from .sms import SmsStandIn
from .sns import SnsStandIn
from .stand_in import StandIn

HTTP_STAND_INS: tuple[type[StandIn], ...] = (
    ChatStandIn,
    PagerStandIn,
    NoticeStandIn,
    SnsStandIn,
    PushStandIn,
    KakaoStandIn,
    SmsStandIn,
    KakaoBotStandIn,
)

__all__ = [
    "HTTP_STAND_INS",
    "ChatStandIn",
    "KakaoBotStandIn",
    "KakaoStandIn",
    "NoticeStandIn",
    "PagerStandIn",
    "PushStandIn",
    "SmsStandIn",
    "SnsStandIn",
    "StandIn",
]
