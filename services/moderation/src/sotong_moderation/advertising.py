"""Links in comments, and which of them point at advertising channels.

Commercial spam on city accounts almost always carries a way to reach the seller: an
open-chat room (open.kakao.com), a messenger handle (t.me), or a URL shortener that hides
either.  Finding the link host and comparing it with the policy's domain lists is cheap
and easy to explain ("links to open.kakao.com"), so it runs before any model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["find_links", "host_matches"]

# Scheme optional: spammers write "open.kakao.com/o/abc" without it.  Hosts need a
# known-looking top-level label so that "3.5km" or "1.2배" are not read as links.
_LINK_RE = re.compile(
    r"(?:https?://|www\.)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|kr|me|io|co|gg|ly|do|la|gl|at|to|us|cc|info|biz|link|xyz|site|shop|app|dev|im|so|ai|tv|be|ws|top|vip|club|live|kim))"
    r"(?![a-z0-9-])(?:[/?#][^\s<>\"']*)?"
)


_HINT_RE = re.compile(r"[a-z0-9]\.[a-z]{2}")


def find_links(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, host)`` for each link-looking token of a lower-cased text."""
    if _HINT_RE.search(text) is None:
        return
    for m in _LINK_RE.finditer(text):
        yield m.start(), m.end(), m.group(1)


def host_matches(host: str, domains: tuple[str, ...]) -> str | None:
    """The listed domain that ``host`` is, or is a subdomain of."""
    for d in domains:
        if host == d or host.endswith("." + d):
            return d
    return None
