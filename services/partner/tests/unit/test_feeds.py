"""The feed validator (`sotong-partner ep validate`): each problem with its line, column and a Korean reason."""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from sotong_partner.feed_store import feed_query, full_line, header, stored_line_function
from sotong_partner.feeds import FORMATS, FULL, SUMMARY, validate

NAVER = FORMATS["naver"]
NAMES = [c.name for c in NAVER.columns(FULL)]


def row(**values: str) -> str:
    base = {
        "id": "eunbit_RING-1",
        "title": "순은 반지",
        "price_pc": "39000",
        "link": "https://m.example.kr/m/eunbit#p-RING-1",
        "image_link": "https://img.example.kr/r.jpg",
        "category_name1": "주얼리",
        "shipping": "3000",
    }
    base.update(values)
    return "\t".join(base.get(name, "") for name in NAMES)


def problems(*lines: str, kind: str | None = None) -> list[tuple[int, int, str, str]]:
    text = "\n".join(["\t".join(NAMES), *lines]) + "\n"
    return [(p.line, p.column, p.field, p.message) for p in validate(io.BytesIO(text.encode()), NAVER, kind)]


def test_a_clean_full_ep_has_no_problem() -> None:
    assert problems(row(), row(id="eunbit_RING-2", add_image_link="https://a.kr/1.jpg|https://a.kr/2.jpg")) == []


def test_each_problem_has_line_column_and_a_korean_reason() -> None:
    found = problems(
        row(),
        row(id="eunbit_RING-2", price_pc="-100"),
        row(id="eunbit_RING-3", link="/m/eunbit"),
        row(id="eunbit_RING-4", image_link="javascript:alert(1)"),
        row(id="eunbit_RING-5", title="가" * 101),
        row(id="eunbit_RING-6", add_image_link="|".join(f"https://a.kr/{i}.jpg" for i in range(11))),
        row(id="eunbit_RING-7", title="<b>반지</b>"),
        row(),  # the first row's id again
        row(id="eunbit_RING-9", category_name1=""),
    )
    by_line = {line: (column, field, message) for line, column, field, message in found}
    assert by_line[3] == (3, "price_pc", "'PC 판매가격': 숫자만 입력해 주세요 (쉼표나 '원' 없이, 예: 15000)")
    assert by_line[4][:2] == (6, "link") and "상대 경로" in by_line[4][2]
    assert by_line[5][:2] == (8, "image_link") and "javascript:" in by_line[5][2]
    assert by_line[6][:2] == (2, "title") and "100자 이하" in by_line[6][2]
    assert by_line[7][:2] == (9, "add_image_link") and "최대 10개" in by_line[7][2]
    assert by_line[8][:2] == (2, "title") and "HTML 태그" in by_line[8][2]
    assert by_line[9][:2] == (1, "id") and "2행과 겹칩니다" in by_line[9][2]
    assert by_line[10][:2] == (10, "category_name1") and "비어 있습니다" in by_line[10][2]


def test_a_tab_inside_a_value_shows_as_a_wrong_column_count() -> None:
    ((line, column, _, message),) = problems(row(title="순은\t반지"))
    assert (line, column) == (2, 0) and "열 개수" in message and "탭" in message


def test_a_wrong_header_names_the_first_wrong_column() -> None:
    text = "id\tname\tprice_pc\n1\t2\t3\n"
    ((line, column, field, message),) = [
        (p.line, p.column, p.field, p.message) for p in validate(io.BytesIO(text.encode()), NAVER)
    ]
    assert (line, column, field) == (1, 2, "title") and "'name'" in message


def test_summary_rows_need_a_class_and_an_update_time_and_deletions_need_only_the_id() -> None:
    names = [c.name for c in NAVER.columns(SUMMARY)]
    head = "\t".join(names)
    update = dict.fromkeys(names, "")
    update.update(
        id="a_1",
        title="반지",
        price_pc="1000",
        link="https://a.kr/1",
        image_link="https://a.kr/1.jpg",
        category_name1="주얼리",
        shipping="0",
        update_time="2026-11-24 09:30:00",
    )
    good_u = "\t".join({**update, "class": "U"}[n] for n in names)
    good_d = "\t".join(
        {**dict.fromkeys(names, ""), "id": "a_2", "class": "D", "update_time": "2026-11-24 09:31:00"}[n] for n in names
    )
    bad = "\t".join({**update, "id": "a_3", "class": "X", "update_time": "24/11/2026"}[n] for n in names)
    text = "\n".join([head, good_u, good_d, bad]) + "\n"
    found = [(p.line, p.field) for p in validate(io.BytesIO(text.encode()), NAVER)]
    assert found == [(4, "class"), (4, "update_time")]


def test_the_cli_reads_gzip_prints_locations_and_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "ep.tsv.gz"
    path.write_bytes(gzip.compress(("\t".join(NAMES) + "\n" + row(price_pc="1,000") + "\n").encode()))
    done = subprocess.run(
        [sys.executable, "-m", "sotong_partner.cli", "ep", "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert (
        done.stdout.strip()
        == f"{path}:2:3: price_pc — 'PC 판매가격': 숫자만 입력해 주세요 (쉼표나 '원' 없이, 예: 15000)"
    )
    clean = tmp_path / "ok.tsv"
    clean.write_text("\t".join(NAMES) + "\n" + row() + "\n")
    ok = subprocess.run([sys.executable, "-m", "sotong_partner.cli", "ep", "validate", str(clean)], capture_output=True)
    assert ok.returncode == 0


def test_google_rules() -> None:
    google = FORMATS["google"]
    names = [c.name for c in google.columns(FULL)]
    values = {
        "id": "a_1",
        "title": "반지",
        "description": "순은",
        "link": "https://a.kr/1",
        "image_link": "https://a.kr/1.jpg",
        "availability": "in_stock",
        "price": "39000 KRW",
        "sale_price": "41000 KRW",
        "condition": "new",
        "identifier_exists": "no",
        "shipping": "KR:::3000 KRW",
        "product_type": "주얼리 > 반지",
        "brand": "은빛",
        "additional_image_link": "",
    }
    text = "\t".join(names) + "\n" + "\t".join(values[n] for n in names) + "\n"
    assert [p.field for p in validate(io.BytesIO(text.encode()), google)] == ["sale_price"]


def test_every_format_has_its_header_and_a_query_per_kind() -> None:
    for fmt in FORMATS.values():
        for kind in fmt.kinds:
            assert header(fmt, kind).decode().rstrip("\n").split("\t") == [c.name for c in fmt.columns(kind)]
            assert "$1" in feed_query(fmt, kind) and "$3" in feed_query(fmt, kind)


def _migration_defining(function: str) -> str:
    """The text of the newest partner migration that (re)defines `function`."""
    files = sorted(
        (f for f in resources.files("sotong_partner.migrations").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    defining = [f.read_text() for f in files if re.search(rf"FUNCTION {function}\(", f.read_text())]
    assert defining, f"no migration defines {function}"
    return defining[-1]


def _words(sql: str) -> str:
    return " ".join(sql.split())


def test_the_stored_naver_line_is_rendered_by_the_expression_the_format_defines() -> None:
    """The migration's function is the format's full line, so stored lines and read-time rendering cannot drift:
    changing the EP's columns fails here until a new migration replaces the function (and re-renders)."""
    assert NAVER.stored_line == "naver_ep"
    migration = _migration_defining("naver_ep_line")
    assert _words(stored_line_function(NAVER)) in _words(migration)
    assert "UPDATE products p SET naver_ep = naver_ep_line(p, m.slug)" in migration  # the backfill


def test_the_line_is_rendered_again_whenever_a_column_it_reads_is_written() -> None:
    read = {"title" if c == "feed_title" else c for c in re.findall(r"\bp\.(\w+)", full_line(NAVER))}
    migration = _migration_defining("products_render_naver_ep")
    trigger = re.search(r"BEFORE INSERT OR UPDATE OF ([\w,\s]+?)\s+ON products", migration)
    assert trigger is not None
    watched = {c.strip() for c in trigger.group(1).split(",")}
    assert read | {"merchant_id"} <= watched, read - watched
    assert "AFTER UPDATE OF slug ON merchants" in migration  # the slug is in the line (id, seller_id, page URL)


def test_only_the_full_naver_ep_reads_stored_lines() -> None:
    assert "p.naver_ep" in feed_query(NAVER, FULL) and "concat(" not in feed_query(NAVER, FULL)
    assert "p.naver_ep" not in feed_query(NAVER, FULL, rendered=True)
    assert "p.naver_ep" not in feed_query(NAVER, SUMMARY)
    for kind in FORMATS["google"].kinds:
        assert "concat(" in feed_query(FORMATS["google"], kind)
