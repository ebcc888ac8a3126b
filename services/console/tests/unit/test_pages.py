"""Citizens' text reaches the templates; every phrase a template asks for exists in both languages."""

from __future__ import annotations

import re
from importlib import resources

from sotong.alerting.v1 import alerting_dispatch_pb2 as channels_pb
from sotong.alerting.v1 import alerting_service_pb2 as apb
from sotong_console import words
from sotong_console.live import event
from sotong_console.pages import Pages, measure
from sotong_console.seoulmap import seoul, shade
from sotong_console.situation import channel_name

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_a_citizens_markup_is_escaped_in_every_rendering() -> None:
    entry = apb.TimelineEntry(sequence=3, event_type="alerting.incident-note-added.v1", actor=XSS, detail=XSS)
    html = Pages().render("_timeline_entry.html", "ko", entry=entry)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=&#34;alert(2)&#34;" in html


def test_citizens_feedback_on_the_timeline_is_labelled_as_such_and_escaped() -> None:
    """Alerting adds a citizen's published feedback to the timeline as a note by `citizen:<tracking id>`."""
    entry = apb.TimelineEntry(
        sequence=9, event_type="alerting.incident-note-added.v1", actor="citizen:SEL-20261203-AB12", detail=XSS
    )
    for language, label in (("ko", "시민 의견"), ("en", "Citizen feedback")):
        html = Pages().render("_timeline_entry.html", language, entry=entry)
        assert "citizen-entry" in html and label in html
        assert "<script>" not in html
    staff = apb.TimelineEntry(sequence=10, event_type="alerting.incident-note-added.v1", actor="operator:kim")
    assert "citizen-entry" not in Pages().render("_timeline_entry.html", "ko", entry=staff)


def test_a_channels_measure_reads_in_the_persons_language() -> None:
    assert measure("20/78 characters", "ko") == "20/78자"
    assert measure("47/90 EUC-KR bytes, LMS", "ko") == "47/90 바이트(EUC-KR), LMS"
    assert measure("20/78 characters", "en") == "20/78 characters"
    assert measure("3/4 fortnights", "ko") == "3/4 fortnights"  # a unit the console does not know: as written


def test_the_preview_names_a_channel_once_when_its_rule_has_the_same_name() -> None:
    """The press mail is measured by the press rule: "보도자료 메일 · ko", not "보도자료 메일 · 보도자료 메일 · ko"."""
    previewed = apb.PreviewAlertResponse(
        purpose="stage1",
        renderings=[
            apb.ChannelRendering(
                channel=channels_pb.CHANNEL_PRESS_MAIL, language="ko", rule="press", measure="20/78 characters"
            ),
            apb.ChannelRendering(
                channel=channels_pb.CHANNEL_SNS, language="ko", rule="x", measure="30/280 weighted characters"
            ),
        ],
    )
    html = Pages().render(
        "_preview.html", "ko", previewed=previewed, refused=None, channel_name=channel_name, drill=False
    )
    press = html[html.index('data-rule="press"') : html.index('data-rule="x"')]
    assert press.count("보도자료 메일") == 1 and "20/78자" in press and "characters" not in press
    sns = html[html.index('data-rule="x"') :]
    assert " · X · ko" in sns and "30/280자(가중치)" in sns


def test_every_phrase_the_templates_use_is_in_the_table_in_both_languages() -> None:
    folder = resources.files("sotong_console").joinpath("templates")
    used: set[str] = set()
    for template in folder.iterdir():
        if template.name.endswith(".html"):
            used |= set(re.findall(r"""\bt\(\s*["']([a-z_0-9]+)["']""", template.read_text()))
    missing = sorted(used - set(words.PHRASES))
    assert not missing, missing
    for key, (korean, english) in words.PHRASES.items():
        assert korean and english, key


def test_the_map_has_seouls_25_districts_with_names_and_paths() -> None:
    city = seoul()
    assert len(city.districts) == 25
    assert city.name("11320") == "도봉구" and city.name("11320", "en") == "Dobong-gu"
    assert all(d.path.startswith("M") and d.path.endswith("Z") for d in city.districts)
    assert sum(len(d.path) for d in city.districts) < 60_000  # small enough to send with every page
    assert [shade(n, 8) for n in (0, 1, 2, 4, 8)] == [0, 1, 1, 2, 4]


def test_a_server_sent_event_carries_each_line_of_the_fragment() -> None:
    sent = event("entry", "<li>a\nb</li>", "7").decode()
    assert sent == "event: entry\nid: 7\ndata: <li>a\ndata: b</li>\n\n"
