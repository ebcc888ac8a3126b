"""The SNS account rules (handles, addresses, statuses), the audit (dormancy, merge candidates, the report) and
the guidelines' compliance rules, without a database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from sotong_community import accounts, audit, guidelines
from sotong_community.input_rules import Violations

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def fields(check: object) -> list[str]:
    v = Violations()
    assert callable(check)
    check(v)
    return [f.field for f in v.found]


@pytest.mark.parametrize(
    ("platform", "handle", "ok"),
    [
        ("x", "seoul_city", True),
        ("x", "seoul_city_official", False),  # 19 > 15
        ("x", "seoul-city", False),
        ("instagram", "seoul.city", True),
        ("instagram", ".seoul", False),
        ("instagram", "seoul..city", False),
        ("instagram", "seoul.", False),
        ("facebook", "seoul", True),
        ("facebook", "seo", False),
        ("youtube", "@seoulcity", True),
        ("naver_blog", "seoul_blog", True),
        ("naver_blog", "Seoul", False),
        ("kakao_channel", "_xkCxbA", True),
        ("kakao_channel", "seoul", False),
    ],
)
def test_handles_follow_their_platforms_rules(platform: str, handle: str, ok: bool) -> None:
    assert fields(lambda v: accounts.check_handle(v, "handle", platform, handle)) == ([] if ok else ["handle"])


@pytest.mark.parametrize(
    ("platform", "handle", "url", "ok"),
    [
        ("x", "seoul_city", "https://x.com/seoul_city", True),
        ("x", "seoul_city", "https://twitter.com/Seoul_City", True),
        ("x", "seoul_city", "https://mobile.x.com/seoul_city", True),
        ("x", "seoul_city", "http://x.com/seoul_city", False),
        ("x", "seoul_city", "https://x.com.evil.example/seoul_city", False),
        ("x", "seoul_city", "https://evilx.com/seoul_city", False),
        ("x", "seoul_city", "https://user:pw@x.com/seoul_city", False),
        ("x", "seoul_city", "https://x.com:8443/seoul_city", False),
        ("x", "seoul_city", "https://x.com/another", False),
        ("x", "seoul_city", "https://x.com/seoul_city now", False),
        ("youtube", "@seoulcity", "https://www.youtube.com/@seoulcity", True),
        ("naver_blog", "seoul_blog", "https://blog.naver.com/seoul_blog", True),
        ("kakao_channel", "_xkCxbA", "https://pf.kakao.com/_xkCxbA", True),
        ("facebook", "seoul.city", "https://www.instagram.com/seoul.city", False),
        ("facebook", "seoul.city", "", False),
        ("facebook", "seoul.city", "https://[broken/seoul.city", False),
    ],
)
def test_addresses_are_https_on_the_platforms_host_and_name_the_handle(
    platform: str, handle: str, url: str, ok: bool
) -> None:
    assert fields(lambda v: accounts.check_url(v, "url", platform, handle, url)) == ([] if ok else ["url"])


def test_statuses_move_only_along_the_registry_rules() -> None:
    assert accounts.transition_problem("active", "dormant") is None
    assert accounts.transition_problem("dormant", "active") is None
    assert accounts.transition_problem("active", "merged") is None
    assert accounts.transition_problem("dormant", "closed") is None
    assert accounts.transition_problem("closed", "active") == "a closed account cannot become active"
    assert accounts.transition_problem("merged", "closed") is not None
    assert accounts.transition_problem("closed", "closed") is None
    assert [s for s in accounts.STATUSES if accounts.in_directory(s)] == ["active", "dormant"]


def test_handles_are_unique_regardless_of_case() -> None:
    assert accounts.canonical_handle("x", "Seoul_City") == accounts.canonical_handle("x", "seoul_city")
    assert accounts.canonical_handle("youtube", "@SeoulCity") == "seoulcity"


def row(
    account_id: str,
    status: str = "active",
    *,
    posted_days_ago: int | None = None,
    registered_days_ago: int = 400,
    department: str = "parks",
    platform: str = "x",
    purpose: str = "",
    audience: str = "",
) -> audit.AccountRow:
    return audit.AccountRow(
        account_id, platform, account_id, f"https://x.com/{account_id}", department, "공원과", purpose, audience,
        status, NOW - timedelta(days=registered_days_ago),
        None if posted_days_ago is None else NOW - timedelta(days=posted_days_ago),
    )  # fmt: skip


def test_ninety_days_without_a_post_make_an_active_account_dormant() -> None:
    assert audit.falls_dormant(row("a", posted_days_ago=90), NOW)
    assert not audit.falls_dormant(row("b", posted_days_ago=89), NOW)
    assert audit.falls_dormant(row("c"), NOW)  # never posted, registered long ago
    assert not audit.falls_dormant(row("d", registered_days_ago=10), NOW)  # new and not yet posting
    assert not audit.falls_dormant(row("e", "dormant"), NOW)
    assert not audit.falls_dormant(row("f", "closed"), NOW)


def test_merge_candidates_share_department_platform_and_purpose() -> None:
    rows = [
        row("a", purpose="한강공원 축제와 행사 안내", audience="시민"),
        row("b", "dormant", purpose="한강공원 축제 행사 안내", audience="시민"),
        row("c", purpose="한강공원 축제와 행사 안내", audience="시민", platform="instagram"),  # other platform
        row("d", purpose="한강공원 축제와 행사 안내", audience="시민", department="culture"),  # other department
        row("e", "closed", purpose="한강공원 축제와 행사 안내", audience="시민"),  # not live
        row("f", purpose="도로 공사 교통 통제", audience="운전자"),  # other purpose
    ]
    found = audit.merge_candidates(rows)
    assert [(c.account_id, c.other_account_id) for c in found] == [("a", "b")]
    assert 0.35 <= found[0].overlap <= 1
    assert audit.overlap("", "x") == 0.0 and audit.overlap("같은 말", "같은 말") == 1.0


def test_the_report_lists_every_account_and_quotes_formulas() -> None:
    rows = [row("a", posted_days_ago=3), row("b", "dormant"), row("=cmd", purpose="x")]
    candidates = [audit.Candidate("a", "b", 0.5)]
    data = audit.as_csv(rows, NOW, ["b"], candidates)
    assert data.startswith("\ufeff".encode())
    read = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["account_id"] for r in read] == ["'=cmd", "a", "b"]
    by_id = {r["account_id"]: r for r in read}
    assert by_id["b"]["newly_dormant"] == "yes" and by_id["a"]["merge_candidate_of"] == "b"
    assert by_id["a"]["days_since_post"] == "3" and by_id["b"]["days_since_post"] == "400"
    page = audit.as_html(rows, NOW, ["b"], candidates, "2026-12").decode()
    assert "<td>=cmd</td>" in page and "a ↔ b (0.50)" in page and "<script" not in page
    assert audit.month_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"  # already December in Seoul


def test_compliance_needs_the_current_version_and_recent_training() -> None:
    valid = timedelta(days=365)
    states = [
        guidelines.StaffState("kim", "parks", 2, NOW - timedelta(days=10)),
        guidelines.StaffState("lee", "parks", 1, NOW - timedelta(days=10)),  # acknowledged an older text
        guidelines.StaffState("park", "parks", 2, NOW - timedelta(days=400)),  # trained too long ago
        guidelines.StaffState("choi", "culture", 0, None),
    ]
    found = guidelines.by_department(states, 2, NOW, valid)
    assert [(d.department, len(d.staff), d.acknowledged_current, d.trained_recently, d.compliant) for d in found] == [
        ("culture", 1, 0, 0, 0),
        ("parks", 3, 2, 2, 1),
    ]
    assert guidelines.acknowledgement_problem(1, 2) is not None
    assert guidelines.acknowledgement_problem(2, 2) is None
    assert guidelines.acknowledgement_problem(1, 0) == "no guidelines are published yet"
