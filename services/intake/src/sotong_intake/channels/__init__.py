"""Adapters that turn each channel's own payload into a `Submission`.

One module per kind of channel: `kakao` (KakaoTalk channel chatbot skill), `sns` (mentions of official
accounts), `eungdapso` (the 응답소 civil-complaint portal sync), `partner_webhook` (signed JSON from partner
systems). Each adapter only maps shapes: a payload whose *structure* is wrong raises `ChannelPayloadError`
listing the fields, and the resulting submission's *content* is then judged by `validate_submission` like any
other, so every channel follows the same rules.
"""

from __future__ import annotations

from sotong_intake.channels.payload import ChannelPayloadError

__all__ = ["ChannelPayloadError"]
