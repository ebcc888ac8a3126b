"""Business cards and official documents that carry the department's SNS accounts (task 3 of the plan).

The 2015 plan puts the departments' official accounts on staff business cards and on official letters. This
module makes, from a staff member's work contact and the department's live accounts in the registry:

- a vCard 4.0 (RFC 6350): UTF-8, CRLF, lines folded at 75 octets without splitting a character, text values
  escaped (\\, ;, , and newlines); the accounts as URL properties (the first is PREF=1) and X-SOCIALPROFILE (the
  de-facto property address books read for social profiles);
- a QR code of one https address (the department's first live account unless the caller names another), as SVG
  and PNG, from segno;
- a footer block for letters (text, and HTML with the QR inline);
- an A4 PDF of ten 90 x 50 mm cards per page (Korean cards' size), with crop marks, drawn by ReportLab with its
  built-in Korean CID font (no font file to ship), the QR drawn from segno's matrix as vector squares.

Nothing here is stored: cards are made on the call from what the caller sends and what the registry holds.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import segno

from sotong_community.input_rules import Violations

CARD_W_MM, CARD_H_MM = 90.0, 50.0
COLUMNS, ROWS = 2, 5
PER_PAGE = COLUMNS * ROWS
MAX_SHEET = 200
FONT = "HYGothic-Medium"
PHONE = re.compile(r"\+?[0-9][0-9 -]{6,18}[0-9]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
PLATFORM_LABELS = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "x": "X",
    "threads": "Threads",
    "youtube": "YouTube",
    "naver_blog": "네이버 블로그",
    "kakao_channel": "카카오톡 채널",
}


@dataclass(frozen=True)
class Staff:
    name: str
    title: str
    phone: str
    email: str


@dataclass(frozen=True)
class Account:
    platform: str
    handle: str
    url: str


@dataclass(frozen=True)
class Department:
    department: str
    name: str
    accounts: tuple[Account, ...]


def check_staff(v: Violations, prefix: str, name: str, title: str, phone: str, email: str) -> Staff:
    name = v.text(prefix + "name", name, limit=40, single_line=True)
    title = v.text(prefix + "title", title, required=False, limit=60, single_line=True)
    if phone and not PHONE.fullmatch(phone):
        v.add(prefix + "phone", f"{prefix}phone must be a phone number such as 02-2133-1234")
    if email and not _EMAIL.fullmatch(email):
        v.add(prefix + "email", f"{prefix}email must be a mail address")
    return Staff(name, title, phone, email)


def check_qr_url(v: Violations, field: str, value: str) -> str:
    if not value:
        return ""
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        parts = urllib.parse.urlsplit("")
    if parts.scheme != "https" or not parts.hostname or len(value) > 300 or any(c.isspace() for c in value):
        v.add(field, f"{field} must be an https address of at most 300 characters")
    return value


def tel_uri(phone: str) -> str:
    """02-2133-1234 -> tel:+82-2-2133-1234 (RFC 3966, Korea's country code; an international number is kept)."""
    digits = re.sub(r"[ -]", "-", phone.strip())
    if digits.startswith("+"):
        return "tel:" + digits
    return "tel:+82-" + digits.removeprefix("0")


def escape(value: str) -> str:
    """RFC 6350 3.4 text value escaping."""
    return (
        value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """RFC 6350 3.2: lines of at most 75 octets, continued with CRLF and a space, never inside a UTF-8 character."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            out.append(current)
            current, size, limit = "", 0, 74  # a continuation line's leading space is one of its 75 octets
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def vcard(staff: Staff, department: Department, revised: datetime | None = None) -> str:
    at = (revised or datetime.now(UTC)).astimezone(UTC)
    family, given = (staff.name[:1], staff.name[1:]) if _hangul(staff.name) else _split_latin(staff.name)
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        "PRODID:-//Sotong//community cards//KO",
        "KIND:individual",
        f"FN:{escape(staff.name)}",
        f"N:{escape(family)};{escape(given)};;;",
        f"ORG:서울특별시;{escape(department.name)}",
    ]
    if staff.title:
        lines.append(f"TITLE:{escape(staff.title)}")
    if staff.phone:
        lines.append(f"TEL;VALUE=uri;TYPE=work,voice:{tel_uri(staff.phone)}")
    if staff.email:
        lines.append(f"EMAIL;TYPE=work:{staff.email}")
    for index, account in enumerate(department.accounts):
        pref = ";PREF=1" if index == 0 else ""
        lines.append(f"URL{pref};TYPE=work:{account.url}")
        lines.append(f"X-SOCIALPROFILE;TYPE={account.platform}:{account.url}")
    lines += [f"REV:{at:%Y%m%dT%H%M%SZ}", "END:VCARD"]
    return "".join(fold(line) + "\r\n" for line in lines)


def _hangul(name: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in name) and " " not in name.strip()


def _split_latin(name: str) -> tuple[str, str]:
    parts = name.split()
    return (parts[-1], " ".join(parts[:-1])) if len(parts) > 1 else (name, "")


def qr_url(department: Department, chosen: str) -> str | None:
    """The address the QR encodes: the caller's, else the department's first live account."""
    if chosen:
        return chosen
    return department.accounts[0].url if department.accounts else None


def qr(url: str) -> segno.QRCode:
    """Error correction M at least (segno raises it when the size allows): a card survives a smudge."""
    return segno.make_qr(url, error="m", boost_error=True)


def qr_svg(url: str) -> str:
    out = io.BytesIO()
    qr(url).save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, title=url)
    return out.getvalue().decode()


def qr_png(url: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def account_lines(department: Department) -> list[str]:
    return [f"{PLATFORM_LABELS.get(a.platform, a.platform)} {_shown_handle(a)}" for a in department.accounts]


def _shown_handle(account: Account) -> str:
    return account.handle if account.handle.startswith(("@", "_")) else "@" + account.handle


def footer_text(department: Department, address: str, phone: str) -> str:
    lines = [f"서울특별시 {department.name}"]
    contact = " · ".join(p for p in (address, f"전화 {phone}" if phone else "") if p)
    if contact:
        lines.append(contact)
    if department.accounts:
        lines.append("공식 SNS: " + " / ".join(f"{line}" for line in account_lines(department)))
    return "\n".join(lines)


def footer_html(department: Department, address: str, phone: str, url: str) -> str:
    import html

    items = "".join(
        f'<li><a href="{html.escape(a.url)}">{html.escape(PLATFORM_LABELS.get(a.platform, a.platform))} '
        f"{html.escape(_shown_handle(a))}</a></li>"
        for a in department.accounts
    )
    contact = " · ".join(html.escape(p) for p in (address, f"전화 {phone}" if phone else "") if p)
    return (
        '<div class="sotong-letter-footer" style="display:flex;gap:12px;align-items:center;font-size:9pt">'
        f'<div class="qr" style="width:72px">{qr_svg(url)}</div>'
        f"<div><strong>서울특별시 {html.escape(department.name)}</strong><br>{contact}"
        f'<ul style="margin:2px 0;padding-left:16px">{items}</ul></div></div>'
    )


def sheet_pdf(staff: Sequence[Staff], department: Department, url: str) -> tuple[bytes, int]:
    """Ten cards per A4 page, centred, with crop marks; returns the PDF and its page count."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    out = io.BytesIO()
    page_w, page_h = A4
    card_w, card_h = CARD_W_MM * mm, CARD_H_MM * mm
    left = (page_w - COLUMNS * card_w) / 2
    top = (page_h - ROWS * card_h) / 2
    pdf = canvas.Canvas(out, pagesize=A4, invariant=True)
    pdf.setTitle(f"{department.name} 명함")
    pdf.setAuthor("서울특별시")
    matrix = [list(row) for row in qr(url).matrix_iter(border=2)]
    accounts = account_lines(department)[:3]
    pages = 0
    for start in range(0, len(staff), PER_PAGE):
        pages += 1
        _crop_marks(pdf, left, top, card_w, card_h, page_h)
        for index, person in enumerate(staff[start : start + PER_PAGE]):
            column, row = index % COLUMNS, index // COLUMNS
            x = left + column * card_w
            y = page_h - top - (row + 1) * card_h
            _card(pdf, person, department, accounts, matrix, x, y, card_w, card_h, mm)
        pdf.showPage()
    pdf.save()
    return out.getvalue(), pages


def _crop_marks(pdf: object, left: float, top: float, card_w: float, card_h: float, page_h: float) -> None:
    from reportlab.pdfgen.canvas import Canvas

    assert isinstance(pdf, Canvas)
    pdf.setLineWidth(0.3)
    pdf.setStrokeGray(0.6)
    mark = 8
    for column in range(COLUMNS + 1):
        x = left + column * card_w
        pdf.line(x, page_h - top + 2, x, page_h - top + 2 + mark)
        pdf.line(x, top - 2, x, top - 2 - mark)
    for row in range(ROWS + 1):
        y = page_h - top - row * card_h
        pdf.line(left - 2, y, left - 2 - mark, y)
        pdf.line(left + COLUMNS * card_w + 2, y, left + COLUMNS * card_w + 2 + mark, y)


def _card(
    pdf: object,
    person: Staff,
    department: Department,
    accounts: list[str],
    matrix: list[list[int]],
    x: float,
    y: float,
    w: float,
    h: float,
    mm: float,
) -> None:
    from reportlab.pdfgen.canvas import Canvas

    assert isinstance(pdf, Canvas)
    pdf.setFillGray(0)
    pdf.setFont(FONT, 7.5)
    pdf.drawString(x + 6 * mm, y + h - 9 * mm, f"서울특별시 {department.name}")
    pdf.setFont(FONT, 13)
    pdf.drawString(x + 6 * mm, y + h - 17 * mm, person.name)
    pdf.setFont(FONT, 8)
    if person.title:
        pdf.drawString(x + 6 * mm, y + h - 22 * mm, person.title)
    lines = [f"T {person.phone}" if person.phone else "", person.email, *accounts]
    cursor = y + h - 29 * mm
    pdf.setFont(FONT, 7)
    for line in (ln for ln in lines if ln):
        pdf.drawString(x + 6 * mm, cursor, line)
        cursor -= 3.6 * mm
    size = 26 * mm
    module = size / len(matrix)
    qx, qy = x + w - size - 4 * mm, y + (h - size) / 2
    pdf.setFillGray(1)
    pdf.rect(qx, qy, size, size, stroke=0, fill=1)
    pdf.setFillGray(0)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(qx + c * module, qy + size - (r + 1) * module, module, module, stroke=0, fill=1)
