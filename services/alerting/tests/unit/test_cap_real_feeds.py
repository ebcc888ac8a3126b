"""CAP as agencies really write it (issue 17, item 7): UTC as +00:00, other declared encodings, XML signatures.

Each class is generated (every date-time position, every offset letter, every encoding) rather than read from
one memorised document; the example files in `examples/` are checked on top.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sotong_alerting.cap import (
    MsgType,
    Reference,
    Status,
    check_cap,
    format_cap_datetime,
    parse_cap,
    parse_cap_datetime,
    render_cap,
    validate_cap,
)
from sotong_alerting.cli import main

from .factories import EXAMPLES, make_alert

# Every element that holds a CAP date-time, as the rendered example alert writes it (`make_alert`).
DATE_FIELDS = ("sent", "effective", "expires")
INSTANTS = (
    datetime(2026, 7, 14, 5, 0, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC),
)


def _utc_text(moment: datetime, sign: str) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}00:00"


def _with_dates(field: str, text: str) -> bytes:
    """The example alert with every <field> replaced by `text` (all info blocks)."""
    data = render_cap(make_alert()).decode()
    replaced, count = re.subn(rf"<{field}>[^<]*</{field}>", f"<{field}>{text}</{field}>", data)
    assert count, field
    return replaced.encode()


@pytest.mark.parametrize("field", DATE_FIELDS)
@pytest.mark.parametrize("moment", INSTANTS, ids=lambda m: m.isoformat())
def test_utc_written_plus_zero_is_accepted_with_a_warning_naming_the_element(field: str, moment: datetime) -> None:
    data = _with_dates(field, _utc_text(moment, "+"))
    checked = check_cap(data)
    assert checked.problems == ()
    assert checked.warnings
    assert all(field in w.path and "+00:00" in w.message and w.warning for w in checked.warnings)
    document = parse_cap(data)
    assert document.alert is not None
    assert document.warnings == checked.warnings
    if field == "sent":
        assert document.alert.sent == moment and document.alert.sent.utcoffset() == timedelta(0)


@pytest.mark.parametrize("field", DATE_FIELDS)
def test_strict_refuses_plus_zero_utc_and_minus_zero_passes_both(field: str) -> None:
    moment = INSTANTS[0]
    strict = validate_cap(_with_dates(field, _utc_text(moment, "+")), strict=True)
    assert strict and all("requires -00:00" in p.message for p in strict)
    minus = _with_dates(field, _utc_text(moment, "-"))
    assert check_cap(minus) == check_cap(minus, strict=True)
    assert check_cap(minus).warnings == ()


def test_a_reference_to_a_plus_zero_message_is_kept_exactly_and_warned_about() -> None:
    sent = "2026-07-14T05:00:00+00:00"
    update = replace(
        make_alert(),
        identifier="KMA-2",
        msg_type=MsgType.UPDATE,
        references=(Reference("cap@kma.go.kr", "KMA-1", "2026-07-14T05:00:00-00:00"),),
    )
    data = render_cap(update).replace(b"2026-07-14T05:00:00-00:00", sent.encode())
    document = parse_cap(data)
    assert document.alert is not None
    assert document.alert.references == (Reference("cap@kma.go.kr", "KMA-1", sent),)
    assert [w.path for w in document.warnings] == ["alert/references"]
    assert any("requires -00:00" in p.message for p in validate_cap(data, strict=True))


@pytest.mark.parametrize(
    "suffix",
    ["Z", "z", "UTC", "GMT", "KST", "+00:00Z", "Z+00:00", "A", "+0000", "+00", "+00:00 ", " +00:00", "+O0:00"],
)
@pytest.mark.parametrize("strict", [False, True])
def test_letters_and_other_offset_forms_stay_refused(suffix: str, strict: bool) -> None:
    text = "2026-07-14T05:00:00" + suffix
    found = [p for p in validate_cap(_with_dates("sent", text), strict=strict) if p.path == "alert/sent"]
    assert found, text
    with pytest.raises(ValueError):
        parse_cap_datetime(text, strict=strict)


@pytest.mark.parametrize("moment", INSTANTS, ids=lambda m: m.isoformat())
def test_what_sotong_writes_is_always_minus_zero(moment: datetime) -> None:
    read = parse_cap(_with_dates("sent", _utc_text(moment, "+"))).alert
    assert read is not None
    again = render_cap(read)
    assert b"+00:00" not in again
    assert f"<sent>{_utc_text(moment, '-')}</sent>".encode() in again
    assert format_cap_datetime(moment) == _utc_text(moment, "-")


def test_cli_prints_warning_lines_and_strict_makes_them_failures() -> None:
    path = str(EXAMPLES / "earthquake-utc-plus-zero.valid.xml")
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", path], out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines and all(re.match(rf"{re.escape(path)}:\d+: warning: alert/", line) for line in lines)
    assert "(3 warnings)" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "--strict", path], out, err) == 1
    assert out.getvalue().count("requires -00:00") == 3 and "warning:" not in out.getvalue()


# --- declared encodings -----------------------------------------------------------------------------------

TEXTS = {
    "ISO-8859-1": ("Vigilance pluie-inondation", "Fortes précipitations à Séoul", "Ça déborde : évitez les berges"),
    "windows-1252": ("Avertissement “pluie”", "Crue – évacuez", "Œuvrez à l’abri"),
    "EUC-KR": ("호우경보", "도봉구 호우경보 발령", "하천변 산책로 이용을 자제하세요."),
    "CP949": ("호우경보", "똠방각하 뷁 구역 경보", "똠 뷁 쓩 지역은 대피하세요."),
    "UTF-16": ("호우경보", "도봉구 호우경보 — Météo", "대피하세요 / évacuez"),
    "UTF-8": ("호우경보", "도봉구 호우경보 — Météo", "대피하세요 / évacuez"),
}


def _encoded(encoding: str, event: str, headline: str, instruction: str) -> bytes:
    info = replace(make_alert().infos[0], event=event, headline=headline, instruction=instruction)
    alert = replace(make_alert(), infos=(info,))
    text = render_cap(alert).decode("utf-8")
    text, count = re.subn(r"encoding=['\"][^'\"]*['\"]", f'encoding="{encoding}"', text, count=1)
    assert count == 1
    codec = {"UTF-16": "utf-16", "windows-1252": "cp1252"}.get(encoding, encoding.lower())
    # What the charset cannot hold travels as character references, as such feeds write it.
    return text.encode(codec, errors="xmlcharrefreplace")


@pytest.mark.parametrize("encoding", sorted(TEXTS))
def test_documents_in_their_declared_encoding_are_read_into_the_same_text(encoding: str) -> None:
    event, headline, instruction = TEXTS[encoding]
    data = _encoded(encoding, event, headline, instruction)
    assert data[:200].decode("utf-16" if encoding == "UTF-16" else "latin-1").count(encoding) == 1
    document = parse_cap(data)
    assert document.problems == (), document.problems
    assert document.alert is not None
    info = document.alert.infos[0]
    assert (info.event, info.headline, info.instruction) == (event, headline, instruction)


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "EUC-KR", "CP949"])
def test_a_doctype_is_refused_in_every_ascii_compatible_declared_encoding(encoding: str) -> None:
    data = _encoded(encoding, *TEXTS[encoding])
    declaration_end = data.index(b"?>") + 2
    hostile = (
        data[:declaration_end]
        + b'\n<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + data[declaration_end:].replace(b"<identifier>", b"<identifier>&x;", 1)
    )
    found = validate_cap(hostile)
    assert found and "DOCTYPE" in found[0].message


def test_the_iso_8859_1_example_reads_accents_and_character_references() -> None:
    data = (EXAMPLES / "iso-8859-1-partner.valid.xml").read_bytes()
    assert "Météo".encode("iso-8859-1") in data and "Météo".encode() not in data
    alert = parse_cap(data).alert
    assert alert is not None
    assert alert.infos[0].sender_name == "Météo partenaire"
    korean = alert.info_for("ko")
    assert korean is not None and korean.event == "호우" and korean.areas[0].area_desc == "종로구"


def test_the_euc_kr_example_reads_korean() -> None:
    alert = parse_cap((EXAMPLES / "euc-kr-district.valid.xml").read_bytes()).alert
    assert alert is not None and alert.infos[0].headline == "종로구 창신동 공장 화재"


# --- XML signatures ---------------------------------------------------------------------------------------

SIGNATURE = (
    '<{p}Signature xmlns{colon}{prefix}="http://www.w3.org/2000/09/xmldsig#"><{p}SignedInfo>'
    '<{p}CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<{p}SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<{p}Reference URI=""><{p}Transforms>'
    '<{p}Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></{p}Transforms>'
    '<{p}DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    "<{p}DigestValue>AAAA</{p}DigestValue></{p}Reference></{p}SignedInfo>"
    "<{p}SignatureValue>QUJD</{p}SignatureValue></{p}Signature>"
)


@pytest.mark.parametrize("prefix", ["", "ds", "sig"])
@pytest.mark.parametrize("status", [Status.ACTUAL, Status.EXERCISE])
def test_an_enveloped_signature_is_read_past_and_the_alert_is_unchanged(prefix: str, status: Status) -> None:
    alert = replace(make_alert(), status=status)
    plain = render_cap(alert)
    signature = SIGNATURE.format(p=f"{prefix}:" if prefix else "", colon=":" if prefix else "", prefix=prefix)
    signed = plain.replace(b"</alert>", signature.encode() + b"</alert>")
    document = parse_cap(signed)
    assert document.problems == (), document.problems
    assert document.alert == parse_cap(plain).alert


def test_a_signature_among_the_other_children_does_not_change_what_is_read() -> None:
    signature = SIGNATURE.format(p="ds:", colon=":", prefix="ds").encode()
    plain = render_cap(make_alert())
    for anchor in (b"<info>", b"<scope>", b"</alert>"):
        data = plain.replace(anchor, signature + anchor, 1)
        document = parse_cap(data)
        if document.alert is not None:
            assert document.alert == parse_cap(plain).alert
        else:  # where the schema does not allow it, the problem names the place
            assert all(p.message.startswith("schema:") for p in document.problems), document.problems


def test_the_signed_example_reads_like_its_unsigned_content() -> None:
    data = (EXAMPLES / "signed-enveloped.valid.xml").read_bytes()
    document = parse_cap(data)
    assert document.alert is not None and document.warnings == ()
    unsigned = re.sub(rb"\s*<Signature .*</Signature>", b"", data, flags=re.S)
    assert parse_cap(unsigned).alert == document.alert
