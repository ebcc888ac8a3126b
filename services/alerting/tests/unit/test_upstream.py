"""Upstream CAP ingestion rules (issue 10, items 2, 4 and 8): sender bindings, sizes that reach an incident, and
reading documents off the event loop within a time budget."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace

import pytest

from sotong_alerting.cap import Alert, Reference, parse_cap, render_cap
from sotong_alerting.cap.reader import CapReader, ReadingFailed
from sotong_alerting.upstream import (
    MAX_EVENT_CHARS,
    MAX_HEADLINE_CHARS,
    MAX_IDENTIFIER_CHARS,
    MAX_SENDER_CHARS,
    SenderBindings,
    referenced_keys,
    size_violations,
    upstream_key,
)

from .factories import korean_info, make_alert

BINDINGS = SenderBindings.parse(
    '{"svc-kma-feed": ["cap@kma.go.kr", "kma@korea.kr"], "partner-kepco": ["a@kepco.co.kr"]}'
)


def test_a_caller_speaks_only_for_its_bound_senders() -> None:
    assert BINDINGS.refusal("svc-kma-feed", "kma@korea.kr") is None
    assert "may not send CAP as 'kma@korea.kr'" in (BINDINGS.refusal("partner-kepco", "kma@korea.kr") or "")
    assert "any sender" in (BINDINGS.refusal("svc-unknown") or "")
    assert "any sender" in (SenderBindings({}).refusal("svc-kma-feed") or "")
    # A binding is found for the same identity only: spellings of the subject do not borrow it.
    assert BINDINGS.senders_for("Svc-kma-feed") == BINDINGS.senders_for("svc-kma-feed")
    assert BINDINGS.senders_for("svc-kma-feed2") == frozenset()


@pytest.mark.parametrize(
    "raw",
    ["[]", '{"svc": "cap@kma.go.kr"}', '{"svc": []}', '{"Svc": ["a"]}', '{"svc ": ["a"]}', "{", '{"svc": [1]}'],
)
def test_a_bad_binding_stops_the_process_at_start(raw: str) -> None:
    with pytest.raises(ValueError):
        SenderBindings.parse(raw)


def test_dedupe_keys_name_the_caller_and_the_sender() -> None:
    assert upstream_key("partner-kepco", "kma@korea.kr", "KMA-1") != upstream_key(
        "svc-kma-feed", "kma@korea.kr", "KMA-1"
    )
    update = make_alert(references=(Reference("kma@korea.kr", "KMA-1", "2026-07-14T14:00:00+09:00"),))
    assert referenced_keys("svc-kma-feed", update) == ["cap:svc-kma-feed:kma@korea.kr:KMA-1"]
    assert referenced_keys("svc-kma-feed", update, {"kma@korea.kr"}) == [
        "cap:svc-kma-feed:kma@korea.kr:KMA-1",
        "cap:kma@korea.kr:KMA-1",
    ]


def _with(name: str, value: str) -> Alert:
    if name == "identifier":
        return replace(make_alert(), identifier=value)
    if name == "sender":
        return replace(make_alert(), sender=value)
    return make_alert(infos=(korean_info(**{name: value}),))


@pytest.mark.parametrize("size", [1, 10, 1_000, 400_000])
@pytest.mark.parametrize(
    ("name", "limit", "path"),
    [
        ("identifier", MAX_IDENTIFIER_CHARS, "alert/identifier"),
        ("sender", MAX_SENDER_CHARS, "alert/sender"),
        ("event", MAX_EVENT_CHARS, "alert/info[1]/event"),
        ("headline", MAX_HEADLINE_CHARS, "alert/info[1]/headline"),
    ],
)
def test_every_text_that_reaches_an_incident_is_bounded(size: int, name: str, limit: int, path: str) -> None:
    found = size_violations(_with(name, "x" * (limit + size)))
    assert [v.field for v in found] == ["cap_xml"]
    assert found[0].description.startswith(f"{path} has {limit + size} characters")
    assert size_violations(_with(name, "x" * limit)) == []


def _big_polygon_document(pairs: int) -> bytes:
    ring = " ".join(["37.5,127.0"] * pairs)
    data = render_cap(make_alert())
    return data.replace(b"<polygon>", b"<polygon>" + ring.encode() + b" ", 1)


async def test_reading_leaves_the_event_loop_free() -> None:
    reader = CapReader()
    data = _big_polygon_document(60_000)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await reader.read(b"<warm-up/>")
        before = ticks
        document = await reader.read(data)
        during = ticks - before
    finally:
        ticker.cancel()
        reader.close()
    assert document.problems == parse_cap(data).problems
    assert during > 100  # the loop kept running while the document was read (in-loop reading: 0)


def test_a_document_over_the_budget_is_refused_and_the_reader_recovers() -> None:
    reader = CapReader(budget_s=30)
    try:
        reader.read_blocking(b"<warm-up/>")
        first = reader.pid
        reader.budget_s = 0.001
        with pytest.raises(ReadingFailed, match=r"budget of 0\.001 s"):
            reader.read_blocking(_big_polygon_document(60_000))
        assert reader.restarts == 1 and reader.pid is None
        reader.budget_s = 30
        assert reader.read_blocking(render_cap(make_alert())).alert == make_alert()
        assert reader.pid not in (None, first)
    finally:
        reader.close()


def test_a_reader_that_died_is_replaced() -> None:
    reader = CapReader(budget_s=30)
    try:
        reader.read_blocking(b"<warm-up/>")
        assert reader.pid is not None
        os.kill(reader.pid, signal.SIGKILL)
        with pytest.raises(ReadingFailed):
            reader.read_blocking(render_cap(make_alert()))
        assert reader.read_blocking(render_cap(make_alert())).alert == make_alert()
    finally:
        reader.close()
