"""The KakaoTalk alimtalk templates the city has registered with Kakao, kept in one place.

Alimtalk only delivers a message that fills a registered template, so the text alerting checks at approval
(length, every #{variable} filled) must be the text Kakao will build. Alerting renders and checks with these
templates; the local KakaoTalk stand-in registers exactly this file (`sotong-standins --kakao-templates`); a new
template is registered with Kakao and added here in the same change.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

FILE = "kakao_templates.json"


@cache
def templates() -> dict[str, str]:
    """Template code -> template text (with #{name} variables)."""
    raw = json.loads(resources.files("sotong_common").joinpath(FILE).read_text("utf-8"))
    return {str(code): str(text) for code, text in raw.items()}


def path() -> Path:
    """The file itself, for tools that load it (the stand-in)."""
    return Path(str(resources.files("sotong_common").joinpath(FILE)))
