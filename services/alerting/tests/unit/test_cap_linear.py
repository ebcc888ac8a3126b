"""CAP reading and validation stay linear in the document, whatever shape a hostile document takes (issue 10,
item 2): 16,000 empty <polygon/> kept IngestCap busy 21.9 s because every problem's path scanned its siblings.

Work is measured by counting the Python bytecode instructions executed (deterministic, unlike a clock) for a
document of size n and of size 4n, per family of pathological documents: linear work grows about 4x,
quadratic work about 16x. Element counts the standard never needs are refused before the per-element work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from sotong_alerting.cap import parse_cap, validate_cap
from sotong_alerting.cap.validate import MAX_CHILDREN, MAX_ELEMENTS, MAX_PROBLEMS, REPEAT_LIMITS

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    "<identifier>KMA-1</identifier><sender>cap@kma.go.kr</sender><sent>2026-07-14T14:00:00+09:00</sent>"
    "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
)
INFO_HEAD = (
    "<info><category>Met</category><event>호우</event><urgency>Immediate</urgency><severity>Severe</severity>"
    "<certainty>Observed</certainty>"
)


def _areas(n: int, child: str, per_area: int = 200) -> str:
    parts = []
    while n > 0:
        k = min(per_area, n)
        parts.append("<area><areaDesc>d</areaDesc>" + child * k + "</area>")
        n -= k
    return "".join(parts)


def _document(body: str, info: str = "") -> bytes:
    return (HEAD + body + (INFO_HEAD + info + "</info>" if info else "") + "</alert>").encode()


# Each family: n -> document. Sizes are chosen so that n and 4n stay under the element limits, where the
# work per element is highest (every element is a problem with a path), and the whole document is read.
FAMILIES: dict[str, Callable[[int], bytes]] = {
    "empty polygons in one area": lambda n: _document(
        "", "<area><areaDesc>d</areaDesc>" + "<polygon/>" * n + "</area>"
    ),
    "empty polygons over areas": lambda n: _document("", _areas(n, "<polygon/>")),
    "malformed circles": lambda n: _document("", _areas(n, "<circle>1,2,3</circle>")),
    "geocodes missing their value": lambda n: _document(
        "", "<area><areaDesc>d</areaDesc>" + "<geocode><valueName>a</valueName></geocode>" * n + "</area>"
    ),
    "bad date-times in many info blocks": lambda n: _document(
        "".join(
            INFO_HEAD + "<effective>2026-07-14T14:00:00Z</effective>" + _areas(n // 16, "<circle/>") + "</info>"
            for _ in range(16)
        )
    ),
    "unknown elements": lambda n: _document("".join(f"<x{i}/>" for i in range(n))),
    "references list": lambda n: (
        HEAD.replace("<msgType>Alert", "<msgType>Update").encode()
        + b"<references>"
        + b" ".join(b"a,b%d,2026-07-14T14:00:00Z" % i for i in range(n))
        + b"</references></alert>"
    ),
    "bad pairs in one polygon": lambda n: _document(
        "", "<area><areaDesc>d</areaDesc><polygon>" + " ".join(["91,1"] * n) + "</polygon></area>"
    ),
    "good pairs in one polygon": lambda n: _document(
        "",
        "<area><areaDesc>d</areaDesc><polygon>1,1 " + " ".join(["37.5,127.0"] * n) + " 1,1</polygon></area>",
    ),
    "signature elements": lambda n: _document(
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
        + "".join(f"<Object><o{i}/></Object>" for i in range(n // 8))
        + "</Signature>"
    ),
}
SIZES = {
    "good pairs in one polygon": 4000,
    "bad pairs in one polygon": 4000,
    "references list": 1000,
    "bad date-times in many info blocks": 1000,
}


def _opcodes(work: Callable[[], Any]) -> int:
    """Python bytecode instructions executed by `work` (C work inside lxml is not counted; it is linear)."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_validation_work_grows_linearly_with_the_document(family: str) -> None:
    build = FAMILIES[family]
    n = SIZES.get(family, 250)
    small, large = build(n), build(4 * n)
    assert len(large) > 3 * len(small)
    validate_cap(small)  # warm caches (the schema) outside the counts
    ratio = _opcodes(lambda: validate_cap(large)) / max(1, _opcodes(lambda: validate_cap(small)))
    assert ratio < 6, f"{family}: {ratio:.1f}x the work for 4x the document"


def test_the_reported_incident_shape_is_refused_at_once_with_one_problem_naming_the_count() -> None:
    for n in (300, 16_000):
        data = FAMILIES["empty polygons in one area"](n)
        found = validate_cap(data)
        assert len(found) == 1
        assert found[0].path == "alert/info[1]/area[1]"
        assert found[0].message.startswith(f"area has {n} <polygon> elements" if n < MAX_CHILDREN else "area has")
        assert "are accepted" in found[0].message


@pytest.mark.parametrize(("pair"), sorted(REPEAT_LIMITS), ids=lambda p: f"{p[0]}-{p[1]}")
def test_each_repeat_limit_holds_at_its_bound_and_refuses_one_more(pair: tuple[str, str]) -> None:
    parent, child = pair
    limit = REPEAT_LIMITS[pair]

    def document(count: int) -> bytes:
        element = f"<{child}>x</{child}>" * count
        if parent == "alert":
            return _document(element)
        if parent == "info":
            return _document("<info>" + element + "</info>")
        return _document("", "<area><areaDesc>d</areaDesc>" + element + "</area>")

    def count_problems(count: int) -> list[str]:
        return [p.message for p in validate_cap(document(count)) if f"<{child}> elements" in p.message]

    assert count_problems(limit) == []
    assert count_problems(limit + 1) == [
        f"{parent} has {limit + 1} <{child}> elements; at most {limit} are accepted (more than any alert needs)"
    ]


def test_element_totals_and_children_per_element_are_bounded() -> None:
    wide = _document("".join(f"<x{i}/>" for i in range(MAX_CHILDREN + 1)))
    assert any(f"at most {MAX_CHILDREN} are accepted" in p.message for p in validate_cap(wide))
    many = _document("", _areas(MAX_ELEMENTS, "<geocode><valueName>a</valueName><value>b</value></geocode>", 1000))
    assert any(f"more than {MAX_ELEMENTS} elements" in p.message for p in validate_cap(many))


def test_problems_are_listed_up_to_the_bound_then_counted() -> None:
    data = FAMILIES["empty polygons over areas"](1_000)
    found = parse_cap(data).problems
    assert len(found) == MAX_PROBLEMS + 1
    assert found[-1].message == f"and {1_000 - MAX_PROBLEMS} more problems not listed"
    assert found[0].path == "alert/info[1]/area[1]/polygon[1]"
    assert found[MAX_PROBLEMS - 1].path == f"alert/info[1]/area[1]/polygon[{MAX_PROBLEMS}]"
