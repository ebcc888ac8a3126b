"""Business cards, letter footers and the A4 print sheet of a department's cards (made on the call, not stored)."""

from __future__ import annotations

import asyncio
from typing import Any

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common.errors import FailedPrecondition
from sotong_common.text_fields import refuse_control_characters
from sotong_community import accounts, cards
from sotong_community.api.account_rpcs import account_view
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations


def _staff(v: Violations, prefix: str, staff: opb.StaffContact) -> cards.Staff:
    return cards.check_staff(v, prefix, staff.name, staff.title, staff.phone.strip(), staff.email.strip())


@refuse_control_characters
class CardRpcs:
    ctx: Context

    async def _department(self, v: Violations, department: str, name: str, chosen_url: str) -> tuple[
        cards.Department, list[Any], str
    ]:  # fmt: skip
        accounts.check_department(v, "department", department)
        shown = v.text("department_name", name, limit=80, single_line=True)
        chosen = cards.check_qr_url(v, "qr_url", chosen_url.strip())
        v.raise_if_any()
        rows = await self.ctx.accounts.department_accounts(department)
        found = cards.Department(
            department, shown, tuple(cards.Account(r["platform"], r["handle"], r["url"]) for r in rows)
        )
        url = cards.qr_url(found, chosen)
        if url is None:
            raise FailedPrecondition(
                f"qr_url: department {department} has no live SNS account in the registry; name the address"
            )
        return found, rows, url

    async def GetBusinessCard(self, request: opb.GetBusinessCardRequest, context: Any) -> opb.GetBusinessCardResponse:
        v = Violations()
        staff = _staff(v, "staff.", request.staff)
        department, rows, url = await self._department(v, request.department, request.department_name,
                                                       request.qr_url)  # fmt: skip
        card = opb.BusinessCard(
            staff=request.staff,
            department=department.department,
            department_name=department.name,
            vcard=cards.vcard(staff, department),
            qr_url=url,
            qr_svg=cards.qr_svg(url),
            qr_png=cards.qr_png(url),
            accounts=[account_view(r) for r in rows],
        )
        return opb.GetBusinessCardResponse(card=card)

    async def GetLetterFooter(self, request: opb.GetLetterFooterRequest, context: Any) -> opb.GetLetterFooterResponse:
        v = Violations()
        address = v.text("address", request.address, required=False, limit=200, single_line=True)
        phone = request.phone.strip()
        if phone and not cards.PHONE.fullmatch(phone):
            v.add("phone", "phone must be a phone number such as 02-2133-1234")
        department, _, url = await self._department(v, request.department, request.department_name, request.qr_url)
        return opb.GetLetterFooterResponse(
            text=cards.footer_text(department, address, phone),
            html=cards.footer_html(department, address, phone, url),
            qr_url=url,
            qr_svg=cards.qr_svg(url),
            qr_png=cards.qr_png(url),
        )

    async def GetCardSheet(self, request: opb.GetCardSheetRequest, context: Any) -> opb.GetCardSheetResponse:
        v = Violations()
        if not 1 <= len(request.staff) <= cards.MAX_SHEET:
            v.add("staff", f"staff must list 1 to {cards.MAX_SHEET} staff members")
        staff = [_staff(v, f"staff[{i}].", s) for i, s in enumerate(request.staff[: cards.MAX_SHEET])]
        department, _, url = await self._department(v, request.department, request.department_name, request.qr_url)
        pdf, pages = await asyncio.to_thread(cards.sheet_pdf, staff, department, url)
        return opb.GetCardSheetResponse(pdf=pdf, pages=pages)
