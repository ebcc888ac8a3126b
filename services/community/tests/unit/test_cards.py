"""Business cards, letter footers and the print sheet, read back by independent readers: the QR codes decoded by
ZXing (zxing-cpp), the vCards parsed by vobject, the PDF rendered to pixels by PDFium and its QR codes decoded
from the rendered page."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pypdfium2
import pytest
import vobject
import zxingcpp
from PIL import Image

from sotong_community import cards
from sotong_community.input_rules import Violations

DEPARTMENT = cards.Department(
    "youth-policy",
    "청년정책과",
    (
        cards.Account("facebook", "seoul.youth.policy", "https://www.facebook.com/seoul.youth.policy"),
        cards.Account("x", "seoul_youth", "https://x.com/seoul_youth"),
        cards.Account("instagram", "seoul.youth", "https://www.instagram.com/seoul.youth/"),
    ),
)
KIM = cards.Staff("김서울", "주무관; 청년 소통, 홍보 담당", "02-2133-6587", "youth.kim@seoul.go.kr")


def decoded(image: Image.Image) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode)


def test_the_qr_png_decodes_back_to_the_url() -> None:
    url = cards.qr_url(DEPARTMENT, "")
    assert url == "https://www.facebook.com/seoul.youth.policy"
    image = Image.open(io.BytesIO(cards.qr_png(url)))
    assert decoded(image) == [url]


def test_the_qr_svg_draws_the_same_code() -> None:
    """The SVG has no rasteriser here; segno's own matrix drawn to pixels must decode, and the SVG is that matrix."""
    url = "https://x.com/seoul_youth?lang=ko&ref=card"
    svg = cards.qr_svg(url)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg and "<path" in svg
    matrix = [list(row) for row in cards.qr(url).matrix_iter(border=4)]
    image = Image.new("L", (len(matrix) * 6, len(matrix) * 6), 255)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                image.paste(0, (c * 6, r * 6, c * 6 + 6, r * 6 + 6))
    assert decoded(image) == [url]


def test_the_vcard_is_version_4_and_parses_with_its_accounts() -> None:
    text = cards.vcard(KIM, DEPARTMENT, datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    assert text.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\n") and text.endswith("END:VCARD\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    card = vobject.readOne(text)
    assert card.version.value == "4.0"
    assert card.fn.value == "김서울"
    assert card.title.value == "주무관; 청년 소통, 홍보 담당"  # escaped ; and , come back as written
    assert card.org.value == ["서울특별시", "청년정책과"]
    assert card.tel.value == "tel:+82-2-2133-6587"
    assert card.email.value == "youth.kim@seoul.go.kr"
    assert [u.value for u in card.contents["url"]] == [a.url for a in DEPARTMENT.accounts]
    assert card.contents["url"][0].params.get("PREF") == ["1"]
    profiles = {p.params["TYPE"][0]: p.value for p in card.contents["x-socialprofile"]}
    assert profiles == {a.platform: a.url for a in DEPARTMENT.accounts}


def test_long_values_fold_between_characters() -> None:
    long_name = "가" * 60
    text = cards.vcard(cards.Staff(long_name, "", "", ""), DEPARTMENT)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert vobject.readOne(text).fn.value == long_name


def test_the_footer_names_every_account_and_carries_the_qr() -> None:
    text = cards.footer_text(DEPARTMENT, "서울특별시 중구 세종대로 110", "02-2133-6587")
    assert "서울특별시 청년정책과" in text and "X @seoul_youth" in text and "Instagram @seoul.youth" in text
    page = cards.footer_html(DEPARTMENT, "세종대로 110", "02-2133-6587", "https://x.com/seoul_youth")
    assert "<svg" in page and 'href="https://x.com/seoul_youth"' in page


def test_the_print_sheet_renders_ten_cards_per_a4_page_with_decodable_qr_codes() -> None:
    staff = [cards.Staff(f"직원{i:02d}", "주무관", f"02-2133-{6500 + i}", f"staff{i}@seoul.go.kr") for i in range(13)]
    url = "https://www.facebook.com/seoul.youth.policy"
    pdf, pages = cards.sheet_pdf(staff, DEPARTMENT, url)
    assert pdf.startswith(b"%PDF-") and pages == 2
    document = pypdfium2.PdfDocument(pdf)
    assert len(document) == 2
    width, height = document[0].get_size()
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    text = document[0].get_textpage().get_text_range()
    assert "직원00" in text and "직원09" in text and "직원10" not in text and "청년정책과" in text
    assert "직원12" in document[1].get_textpage().get_text_range()
    first = document[0].render(scale=3).to_pil()
    assert first.size == (round(width * 3), round(height * 3))
    found = zxingcpp.read_barcodes(first)
    assert len([r for r in found if r.text == url]) == 10  # one per card, each decodes
    second = document[1].render(scale=3).to_pil()
    assert len([r for r in zxingcpp.read_barcodes(second) if r.text == url]) == 3
    first.convert("L").save(io.BytesIO(), format="PNG")  # the page as PNG (what a person would look at)


@pytest.mark.parametrize(
    ("field", "value"),
    [("staff.phone", "call me"), ("staff.email", "kim@"), ("staff.name", "")],
)
def test_bad_staff_fields_are_named(field: str, value: str) -> None:
    v = Violations()
    values = {"name": "김서울", "title": "", "phone": "02-2133-1234", "email": "a@seoul.go.kr"}
    values[field.removeprefix("staff.")] = value
    cards.check_staff(v, "staff.", **values)
    assert [f.field for f in v.found] == [field]


def test_a_qr_url_must_be_https() -> None:
    v = Violations()
    cards.check_qr_url(v, "qr_url", "javascript:alert(1)")
    assert [f.field for f in v.found] == ["qr_url"]
