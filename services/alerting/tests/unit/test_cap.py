from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from sotong_alerting.cap import (
    CAP_NAMESPACE,
    Alert,
    Area,
    Circle,
    MsgType,
    Point,
    Reference,
    Resource,
    Scope,
    Status,
    format_cap_datetime,
    parse_cap,
    parse_cap_datetime,
    render_cap,
    validate_alert,
    validate_cap,
)
from sotong_alerting.cap.validate import cap_schema, safe_parser

from .factories import DOBONG_RING, EXAMPLES, SENT, korean_info, make_alert


def messages(data: bytes) -> list[str]:
    return [problem.message for problem in validate_cap(data)]


def area_with(**fields: object) -> Alert:
    area = Area(area_desc="도봉구", **fields)  # type: ignore[arg-type]
    return make_alert(infos=(korean_info(areas=(area,)),))


# --- rendering ------------------------------------------------------------------------------------------


def test_rendered_alert_validates_against_the_xsd_and_spec() -> None:
    data = render_cap(make_alert())
    root = etree.fromstring(data, parser=safe_parser())
    assert cap_schema().validate(root), cap_schema().error_log
    assert root.tag == "{" + CAP_NAMESPACE + "}alert"
    assert validate_cap(data) == []


def test_every_optional_element_renders_in_schema_order() -> None:
    area = Area(
        area_desc="도봉구",
        polygons=(DOBONG_RING,),
        circles=(Circle(Point(37.6688, 127.0471), 3.5),),
        altitude=10.0,
        ceiling=200.0,
    )
    resource = Resource("지도", "image/png", size=1234, uri="https://example.org/map.png", digest="a" * 40)
    alert = make_alert(
        source="서울시 재난안전상황실",
        scope=Scope.RESTRICTED,
        restriction="상황실 내부용",
        addresses=("duty officer", "mayor"),
        codes=("IPAWSv1.0",),
        note="note",
        msg_type=MsgType.UPDATE,
        references=(Reference("alert@seoul.go.kr", "SEOUL-2026-0000", "2026-07-14T13:00:00+09:00"),),
        incidents=("INC 1", "INC-2"),
        infos=(korean_info(areas=(area,), resources=(resource,), audience="시민", contact="120"),),
    )
    assert validate_alert(alert) == []


def test_round_trip_keeps_every_field() -> None:
    alert = make_alert(incidents=("INC 1", "INC-2"), addresses=("a b",), codes=("x",))
    document = parse_cap(render_cap(alert))
    assert document.problems == ()
    assert document.alert == alert


def test_utc_is_written_as_minus_zero_and_naive_times_refused() -> None:
    assert format_cap_datetime(datetime(2026, 1, 1, 5, 0, tzinfo=UTC)) == "2026-01-01T05:00:00-00:00"
    assert format_cap_datetime(SENT) == "2026-07-14T14:00:00+09:00"
    with pytest.raises(ValueError, match="time zone"):
        format_cap_datetime(datetime(2026, 1, 1))
    assert parse_cap_datetime("2026-01-01T05:00:00-00:00").utcoffset() == timedelta(0)


def test_reference_of_an_alert_uses_its_exact_sent_text() -> None:
    assert str(make_alert().reference) == "alert@seoul.go.kr,SEOUL-2026-0001,2026-07-14T14:00:00+09:00"


# --- spec rules beyond the XSD -------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", [MsgType.UPDATE, MsgType.CANCEL, MsgType.ACK, MsgType.ERROR])
def test_msg_types_that_refer_need_references(msg_type: MsgType) -> None:
    found = validate_alert(make_alert(msg_type=msg_type))
    assert [p.path for p in found] == ["alert/msgType"]
    assert "requires <references>" in found[0].message


@pytest.mark.parametrize(
    ("references", "expected"),
    [
        ("alert@seoul.go.kr,SEOUL-1", "not a 'sender,identifier,sent' triple"),
        ("alert@seoul.go.kr,SEOUL-1,2026-07-14T14:00:00Z", "uses 'Z'"),
        ("alert@seoul.go.kr,SEOUL-1,yesterday", "not in the CAP 1.2 form"),
    ],
)
def test_malformed_reference_triples_are_reported(references: str, expected: str) -> None:
    data = render_cap(make_alert(msg_type=MsgType.CANCEL)).replace(
        b"<scope>Public</scope>", f"<scope>Public</scope><references>{references}</references>".encode()
    )
    assert any(expected in message for message in messages(data))


def test_open_polygon_is_refused() -> None:
    ring = (*DOBONG_RING[:-1], Point(37.6, 127.0))
    assert any("not closed" in p.message for p in validate_alert(area_with(polygons=(ring,))))


def test_three_point_polygon_is_refused() -> None:
    ring = (DOBONG_RING[0], DOBONG_RING[1], DOBONG_RING[0])
    found = validate_alert(area_with(polygons=(ring,)))
    assert len(found) == 1
    assert "at least 4" in found[0].message
    assert found[0].path == "alert/info[1]/area[1]/polygon[1]"


@pytest.mark.parametrize("bad", [Point(91.0, 127.0), Point(37.0, 181.0), Point(-90.5, 0.0)])
def test_coordinates_out_of_range_are_refused(bad: Point) -> None:
    found = validate_alert(area_with(circles=(Circle(bad, 1.0),)))
    assert any("outside" in p.message for p in found)


@pytest.mark.parametrize("text", ["37.5,127.0", "37.5,127.0 -1", "37.5;127.0 2", "37.5,127.0 nan", "a,b 3"])
def test_malformed_circles_are_refused(text: str) -> None:
    data = render_cap(area_with(circles=(Circle(Point(37.5, 127.0), 1.0),))).replace(b"37.5,127 1", text.encode())
    assert any(p.path == "alert/info[1]/area[1]/circle[1]" for p in validate_cap(data))


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-07-14T14:00:00Z", "uses 'Z'"),
        ("2026-07-14T14:00:00", "not in the CAP 1.2 form"),
        ("2026-07-14T14:00:00.5+09:00", "not in the CAP 1.2 form"),
        ("2026-07-14T14:00:00,09:00", "not in the CAP 1.2 form"),
        ("2026-02-30T14:00:00+09:00", "not a real calendar"),
    ],
)
def test_bad_datetimes_are_refused(sent: str, expected: str) -> None:
    data = render_cap(make_alert()).replace(b"2026-07-14T14:00:00+09:00</sent>", f"{sent}</sent>".encode())
    found = [p for p in validate_cap(data) if p.path == "alert/sent"]
    assert found, validate_cap(data)
    assert expected in found[0].message


def test_bad_expires_in_info_is_refused() -> None:
    data = render_cap(make_alert()).replace(
        b"<expires>2026-07-14T23:00:00+09:00</expires>", b"<expires>2026-07-14T23:00:00Z</expires>", 1
    )
    assert any(p.path == "alert/info[1]/expires" for p in validate_cap(data))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("identifier", "SEOUL 1", "whitespace"),
        ("identifier", "SEOUL,1", "forbids commas"),
        ("identifier", "SEOUL<1", "forbids commas and restricted"),
        ("sender", "alert@seoul.go.kr&x", "restricted"),
        ("identifier", "", "empty"),
    ],
)
def test_identifier_and_sender_characters(field: str, value: str, expected: str) -> None:
    found = validate_alert(make_alert(**{field: value}))
    assert any(p.path == f"alert/{field}" and expected in p.message for p in found), found


def test_restricted_scope_needs_restriction_and_private_needs_addresses() -> None:
    restricted = validate_alert(make_alert(scope=Scope.RESTRICTED))
    private = validate_alert(make_alert(scope=Scope.PRIVATE))
    assert [p.message for p in restricted] == ["scope Restricted requires a non-empty <restriction>"]
    assert [p.message for p in private] == ["scope Private requires a non-empty <addresses>"]
    assert validate_alert(make_alert(scope=Scope.PRIVATE, addresses=("duty-officer",))) == []


def test_ceiling_without_altitude_is_refused() -> None:
    assert any("together with altitude" in p.message for p in validate_alert(area_with(ceiling=100.0)))
    assert any("below altitude" in p.message for p in validate_alert(area_with(altitude=50.0, ceiling=10.0)))


def test_resource_checks() -> None:
    bad = Resource("map", "png", size=-1, digest="xyz", deref_uri="!!!not base64!!!")
    found = validate_alert(make_alert(infos=(korean_info(resources=(bad,)),)))
    text = " | ".join(p.message for p in found)
    assert "media type" in text
    assert "negative" in text
    assert "SHA-1" in text
    assert "Base64" in text


def test_relative_web_link_is_refused() -> None:
    found = validate_alert(make_alert(infos=(korean_info(web="/alerts/1"),)))
    assert any("absolute URI" in p.message for p in found)


def test_schema_errors_carry_lines_and_readable_names() -> None:
    data = render_cap(make_alert()).replace(b"<status>Actual</status>", b"<status>Real</status>")
    found = validate_cap(data)
    assert len(found) == 1
    assert found[0].line == 6
    assert found[0].path == "alert/status"
    assert "cap:status" in found[0].message
    assert "{urn:" not in found[0].message


def test_other_root_element_is_refused() -> None:
    found = validate_cap(b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>')
    assert "expected a CAP 1.2 <alert>" in found[0].message


def test_invalid_document_yields_no_model() -> None:
    document = parse_cap(render_cap(make_alert(msg_type=MsgType.UPDATE)))
    assert document.alert is None
    assert not document.valid


# --- hostile input --------------------------------------------------------------------------------------


def test_xxe_is_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    data = (
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>\n'
        f'<alert xmlns="{CAP_NAMESPACE}"><identifier>&e;</identifier></alert>'
    ).encode()
    found = validate_cap(data)
    assert len(found) == 1
    assert "DOCTYPE" in found[0].message
    assert found[0].line == 2
    assert "TOP-SECRET-42" not in str(found)


def test_safe_parser_itself_does_not_expand_external_entities(tmp_path: Path) -> None:
    """Second line of defence: even if the DOCTYPE screen were bypassed, the parser must not read files."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    data = f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]><x>&e;</x>'.encode()
    root = etree.fromstring(data, parser=safe_parser())
    assert b"TOP-SECRET-42" not in etree.tostring(root)


def test_billion_laughs_is_refused() -> None:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
    ]
    data = f"<?xml version='1.0'?><!DOCTYPE lolz [{''.join(entities)}]><lolz>&lol9;</lolz>".encode()
    found = validate_cap(data)
    assert len(found) == 1
    assert "DOCTYPE" in found[0].message


def test_utf16_doctype_is_refused() -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>'.encode("utf-16")
    assert "DOCTYPE" in validate_cap(data)[0].message


def test_oversized_document_is_refused_unread() -> None:
    found = validate_cap(b"<a>" + b" " * 100 + b"</a>", max_bytes=50)
    assert "limit is 50 bytes" in found[0].message


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"   ",
        b"\x00\xff\xfe",
        b"<",
        b"<alert>",
        b"not xml at all",
        b"<?xml version='1.0'?>",
        b"\xef\xbb\xbf",
    ],
)
def test_garbage_yields_problems_not_exceptions(garbage: bytes) -> None:
    assert validate_cap(garbage)
    assert parse_cap(garbage).alert is None


def test_truncations_of_a_valid_document_never_raise() -> None:
    data = render_cap(make_alert())
    for end in range(0, len(data), 7):
        document = parse_cap(data[:end])
        assert document.alert is None


# --- shipped examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.valid.xml")), ids=lambda p: p.name)
def test_valid_examples_parse(path: Path) -> None:
    document = parse_cap(path.read_bytes())
    assert document.problems == ()
    assert document.alert is not None


def test_exercise_update_example_is_read_into_the_model() -> None:
    alert = parse_cap((EXAMPLES / "heavy-rain-update.valid.xml").read_bytes()).alert
    assert alert is not None
    assert alert.status is Status.EXERCISE
    assert alert.sent == datetime(2026, 7, 14, 5, 30, tzinfo=UTC)
    assert alert.references == (Reference("alert@seoul.go.kr", "SEOUL-2026-0001", "2026-07-14T14:00:00+09:00"),)


def test_invalid_example_reports_each_rule_with_its_line() -> None:
    found = validate_cap((EXAMPLES / "update-without-references.invalid.xml").read_bytes())
    by_line = {(p.line, re.sub(r"'.*?'", "'…'", p.message)) for p in found}
    assert (7, "msgType Update requires <references> naming the message(s) it refers to") in by_line
    assert len(found) == 5  # the schema's pattern message for <sent> is replaced by the plain-words rule
    assert any(line == 18 and "at least 4" in m for line, m in by_line)
    assert any(line == 19 and "not closed" in m for line, m in by_line)
    assert any(line == 3 and "whitespace" in m for line, m in by_line)
    assert any(line == 5 and "uses" in m for line, m in by_line)


def test_random_mutations_never_raise() -> None:
    """Garbage in, problems out: byte flips, deletions and insertions of a valid alert never raise."""
    rng = random.Random(20260714)
    original = render_cap(make_alert())
    alphabet = b"<>&;\"',:/-+ 0123456789Zaz\x00\xff"
    for _ in range(600):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data))
            action = rng.random()
            if action < 0.4:
                data[position] = rng.choice(alphabet)
            elif action < 0.7:
                del data[position]
            else:
                data.insert(position, rng.choice(alphabet))
        document = parse_cap(bytes(data))
        assert document.alert is not None or document.problems


def test_negative_resource_size_is_refused() -> None:
    data = render_cap(make_alert(infos=(korean_info(resources=(Resource("map", "image/png", size=5),)),)))
    assert any("negative" in p.message for p in validate_cap(data.replace(b"<size>5<", b"<size>-5<")))
    assert validate_cap(data.replace(b"<size>5<", b"<size>\xc2\xb2<"))  # superscript two: no crash


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("msg_type", list(MsgType))
def test_every_status_and_message_type_renders_valid_cap(status: Status, msg_type: MsgType) -> None:
    references = () if msg_type is MsgType.ALERT else (make_alert().reference,)
    alert = make_alert(identifier="SEOUL-2026-0100", status=status, msg_type=msg_type, references=references)
    data = render_cap(alert)
    assert cap_schema().validate(etree.fromstring(data, parser=safe_parser()))
    assert validate_cap(data) == []
    assert parse_cap(data).alert == alert


def test_naive_datetime_in_a_built_alert_is_a_problem_not_a_crash() -> None:
    found = validate_alert(make_alert(sent=datetime(2026, 7, 14, 14, 0)))
    assert len(found) == 1
    assert "time zone" in found[0].message


@pytest.mark.parametrize("language", ["ko_KR", "한국어", "ko-"])
def test_malformed_language_codes_are_refused(language: str) -> None:
    found = validate_alert(make_alert(infos=(korean_info(language=language),)))
    assert [p.path for p in found] == ["alert/info[1]/language"]
