"""Links in comments, and which of them point at advertising channels or shops.

Commercial spam on city accounts almost always carries a way to reach the seller: an
open-chat room (open.kakao.com), a messenger handle (t.me), a URL shortener that hides
either, or a bare shop domain (``name-shop.co``, ``best-deal.kr``) written without
``http`` or ``www`` so that link filters miss it.  Finding the link host and comparing it
with the policy's lists is cheap and easy to explain ("links to open.kakao.com"), so it
runs before any model.

Linear by construction: one pass of a pattern without backtracking (``[a-z0-9.-]+`` can
only grow) finds runs of host characters, and each run is split into labels in Python.
The earlier single expression (labels repeated, then a top-level domain) retried every
start position inside a long dotted run: ``'ab.' * 6000`` took 5 s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["TLDS", "LinkRule", "find_links", "host_matches", "link_matches"]

# Hosts need a known-looking top-level label so that "3.5km" or "1.2배" are not read as links.
TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "kr",
        "me",
        "io",
        "co",
        "gg",
        "ly",
        "do",
        "la",
        "gl",
        "at",
        "to",
        "us",
        "cc",
        "info",
        "biz",
        "link",
        "xyz",
        "site",
        "shop",
        "app",
        "dev",
        "im",
        "so",
        "ai",
        "tv",
        "be",
        "ws",
        "top",
        "vip",
        "club",
        "live",
        "kim",
        "store",
        "online",
    ]
)
_RUN_RE = re.compile(r"[a-z0-9.-]+")
_HINT_RE = re.compile(r"[a-z0-9]\.[a-z]{2}")
_SCHEME_TAIL = ("https://", "http://")
_PATH_START = frozenset("/?#")
_PATH_END = frozenset("<>\"'")
_MAX_LABEL = 63


def _valid_label(label: str) -> bool:
    return 0 < len(label) <= _MAX_LABEL and label[0] != "-" and label[-1] != "-"


def _host_in_run(run: str) -> tuple[int, int] | None:
    """The first host in a run of host characters, as ``[start, end)`` within the run.

    A host is a chain of valid labels ending in a known top-level label; like a greedy
    expression, the chain runs to the *last* top-level label it reaches.  A label with
    leading hyphens may still start a chain with what follows them.  One pass over the
    labels: linear in the run's length.
    """
    pos = 0
    chain_start: int | None = None
    chain_labels = 0
    best: tuple[int, int] | None = None
    for label in run.split("."):
        end = pos + len(label)
        if _valid_label(label):
            if chain_start is None:
                chain_start, chain_labels = pos, 0
            chain_labels += 1
            if chain_labels >= 2 and label in TLDS:
                best = (chain_start, end)
        else:
            if best is not None:
                return best
            stripped = label.lstrip("-")
            if stripped and _valid_label(stripped):
                chain_start, chain_labels = end - len(stripped), 1
            else:
                chain_start, chain_labels = None, 0
        pos = end + 1
    return best


def find_links(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, host)`` for each link-looking token of a lower-cased text.

    The span covers an ``http(s)://`` scheme before the host and a path after it
    (``/``, ``?`` or ``#`` up to white space or a quote); ``host`` has no leading ``www.``.
    """
    if _HINT_RE.search(text) is None:
        return  # no "x.yy" anywhere: most comments end here
    n = len(text)
    resume = 0
    for m in _RUN_RE.finditer(text):
        if m.start() < resume:
            continue  # inside the path of the previous link
        if (m.end() < n and text[m.end()] == "@") or (m.start() > 0 and text[m.start() - 1] == "@"):
            continue  # an e-mail address (personal data, masked there), not a link
        run_start = m.start()
        run = m.group()
        while run:
            found = _host_in_run(run)
            if found is None:
                break
            h_start, h_end = run_start + found[0], run_start + found[1]
            host = text[h_start:h_end]
            start = h_start
            for scheme in _SCHEME_TAIL:
                if text.startswith(scheme, h_start - len(scheme)):
                    start = h_start - len(scheme)
                    break
            end = h_end
            if end < n and text[end] in _PATH_START:
                while end < n and not text[end].isspace() and text[end] not in _PATH_END:
                    end += 1
            yield start, end, host.removeprefix("www.")
            resume = end
            # More hosts may follow in the same run ("a.com.b.kr" is one host; "a.com-b.kr" is not a run split).
            consumed = h_end - run_start
            run_start, run = h_end, run[consumed:] if end == h_end else ""


def host_matches(host: str, domains: tuple[str, ...]) -> str | None:
    """The listed domain that ``host`` is, or is a subdomain of."""
    for d in domains:
        if host == d or host.endswith("." + d):
            return d
    return None


@dataclass(frozen=True, slots=True)
class LinkRule:
    """What a ``link_domain`` policy rule looks for in a host (any one of the three lists)."""

    domains: tuple[str, ...] = ()
    tlds: tuple[str, ...] = ()
    host_words: tuple[str, ...] = ()
    except_domains: tuple[str, ...] = ()


def link_matches(host: str, rule: LinkRule) -> str | None:
    """Why ``host`` matches ``rule`` (the domain, ``.tld`` or word it met), or None."""
    if rule.except_domains and host_matches(host, rule.except_domains) is not None:
        return None
    found = host_matches(host, rule.domains) if rule.domains else None
    if found is not None:
        return found
    if rule.tlds:
        for tld in rule.tlds:
            if host.endswith("." + tld):
                return "." + tld
    if rule.host_words:
        name = host.rsplit(".", 1)[0]
        for word in rule.host_words:
            if word in name:
                return word
    return None
