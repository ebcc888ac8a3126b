"""The SNS accounts' audit: which live accounts fell silent, which overlap, and the month's report.

An account is dormant when nothing was posted on it for the dormancy period (90 days): its last post is the
latest SNS receipt of the publishing service for its target (city-wide alerts excluded: they go to every account
and say nothing about whether the department keeps it alive), or its registration when there never was one.

Merge candidates are two live accounts of one department on one platform whose purposes and audiences overlap:
the Jaccard index of their character bigrams (Korean needs no word splitting for this; two texts about the same
programme share most of their bigrams) at or above the threshold. The SNS team decides; the audit only proposes.

The report (CSV and HTML) lists every account with its status, last post and days since, the accounts this run
made dormant, and the merge candidates. It is made from plain rows, so it is the same whoever renders it.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

SEOUL = timezone(timedelta(hours=9), "KST")
DORMANT_AFTER = timedelta(days=90)
MERGE_OVERLAP = 0.35


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    platform: str
    handle: str
    url: str
    department: str
    department_name: str
    purpose: str
    audience: str
    status: str
    registered_at: datetime
    last_post_at: datetime | None


@dataclass(frozen=True)
class Candidate:
    account_id: str
    other_account_id: str
    overlap: float


def month_of(at: datetime) -> str:
    """The report's month in Seoul time (YYYY-MM)."""
    return at.astimezone(SEOUL).strftime("%Y-%m")


def last_activity(row: AccountRow) -> datetime:
    return row.last_post_at if row.last_post_at is not None else row.registered_at


def falls_dormant(row: AccountRow, now: datetime, after: timedelta = DORMANT_AFTER) -> bool:
    """An active account with no post (or, never posted, no registration) within `after` before `now`."""
    return row.status == "active" and now - last_activity(row) >= after


def _bigrams(text: str) -> set[str]:
    squeezed = "".join(ch for ch in text.lower() if ch.isalnum())
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


def overlap(a: str, b: str) -> float:
    """Jaccard index of the two texts' character bigrams (letters and digits only, case folded)."""
    left, right = _bigrams(a), _bigrams(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def merge_candidates(rows: Sequence[AccountRow], threshold: float = MERGE_OVERLAP) -> list[Candidate]:
    """Pairs of live accounts of one department and platform whose purpose and audience overlap, best first."""
    live = sorted((r for r in rows if r.status in ("active", "dormant")), key=lambda r: r.account_id)
    groups: dict[tuple[str, str], list[AccountRow]] = {}
    for row in live:
        groups.setdefault((row.department, row.platform), []).append(row)
    found = []
    for members in groups.values():
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                score = overlap(f"{left.purpose} {left.audience}", f"{right.purpose} {right.audience}")
                if score >= threshold:
                    found.append(Candidate(left.account_id, right.account_id, round(score, 3)))
    return sorted(found, key=lambda c: (-c.overlap, c.account_id, c.other_account_id))


COLUMNS = ("account_id", "platform", "handle", "url", "department", "department_name", "status", "last_post_at",
           "days_since_post", "newly_dormant", "merge_candidate_of")  # fmt: skip


def _cells(row: AccountRow, now: datetime, newly: set[str], pairs: dict[str, list[str]]) -> list[str]:
    last = last_activity(row)
    return [
        row.account_id,
        row.platform,
        row.handle,
        row.url,
        row.department,
        row.department_name,
        row.status,
        row.last_post_at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M") if row.last_post_at else "",
        str(max(0, (now - last).days)),
        "yes" if row.account_id in newly else "",
        " ".join(sorted(pairs.get(row.account_id, []))),
    ]


def _pairs(candidates: Sequence[Candidate]) -> dict[str, list[str]]:
    pairs: dict[str, list[str]] = {}
    for c in candidates:
        pairs.setdefault(c.account_id, []).append(c.other_account_id)
        pairs.setdefault(c.other_account_id, []).append(c.account_id)
    return pairs


def _ordered(rows: Sequence[AccountRow]) -> list[AccountRow]:
    return sorted(rows, key=lambda r: (r.department, r.platform, r.handle.lower(), r.account_id))


def as_csv(rows: Sequence[AccountRow], now: datetime, newly: Sequence[str], candidates: Sequence[Candidate]) -> bytes:
    """UTF-8 with a byte-order mark, so a spreadsheet opened by double click shows the Hangul."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    pairs, fresh = _pairs(candidates), set(newly)
    for row in _ordered(rows):
        writer.writerow([_spreadsheet_safe(c) for c in _cells(row, now, fresh, pairs)])
    return ("\ufeff" + out.getvalue()).encode()


def _spreadsheet_safe(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @ first) is quoted with a leading apostrophe."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def as_html(
    rows: Sequence[AccountRow], now: datetime, newly: Sequence[str], candidates: Sequence[Candidate], month: str
) -> bytes:
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("active", "dormant", "merged", "closed")}
    pairs, fresh = _pairs(candidates), set(newly)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r, now, fresh, pairs)) + "</tr>"
        for r in _ordered(rows)
    )
    merges = "\n".join(
        f"<li>{html.escape(c.account_id)} ↔ {html.escape(c.other_account_id)} ({c.overlap:.2f})</li>"
        for c in candidates
    )
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    page = f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>공식 SNS 계정 점검 {html.escape(month)}</title>
<style>table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 6px;font-size:12px}}</style>
</head><body>
<h1>공식 SNS 계정 점검 {html.escape(month)}</h1>
<p>점검 시각 {now.astimezone(SEOUL):%Y-%m-%d %H:%M} (KST) · {html.escape(summary)} · 이번 점검으로 휴면 {len(fresh)}</p>
<h2>통합 후보</h2><ul>
{merges or "<li>없음</li>"}
</ul>
<h2>계정</h2><table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table></body></html>
"""
    return page.encode()
