"""Business cards and official documents (issue 12, item 2) and staff guidelines and training (item 3) on the real
stack: a card's vCard parses with vobject and lists the department's accounts from the registry, its QR code
decodes with ZXing, the A4 sheet renders with PDFium and every card's QR on the rendered PNG decodes; guideline
versions, acknowledgements, training attendance and the per-department compliance view."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pypdfium2
import pytest
import vobject
import zxingcpp
from PIL import Image

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, person, sql

pytestmark = pytest.mark.service


async def test_cards_footers_and_the_print_sheet_carry_the_departments_accounts(
    fresh_stack: Stack, tmp_path: Path
) -> None:
    fresh_stack.start_services(("community-api",), say=False)
    operator = person(fresh_stack, "sns-team-1", "operator")
    clerk = person(fresh_stack, "staff-lee", "moderator")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        for request_id, platform, handle, url in (
            ("c-1", "instagram", "seoul.parks", "https://www.instagram.com/seoul.parks/"),
            ("c-2", "x", "seoul_parks", "https://x.com/seoul_parks"),
            ("c-3", "youtube", "@seoulparks", "https://www.youtube.com/@seoulparks"),
        ):
            await stub.RegisterAccount(
                opb.RegisterAccountRequest(
                    account=opb.SnsAccount(platform=platform, handle=handle, url=url, department="parks",
                                           department_name="공원여가정책과", purpose="공원 소식"),
                    request_id=request_id,
                ),
                metadata=operator,
            )  # fmt: skip
        closed = await stub.ListAccounts(opb.ListAccountsRequest(platform="youtube"), metadata=operator)
        await stub.ChangeAccountStatus(
            opb.ChangeAccountStatusRequest(account_id=closed.accounts[0].account_id, status=opb.ACCOUNT_STATUS_CLOSED),
            metadata=operator,
        )
        me = opb.StaffContact(name="이공원", title="주무관", phone="02-2133-2101", email="park.lee@seoul.go.kr")
        got = await stub.GetBusinessCard(
            opb.GetBusinessCardRequest(staff=me, department="parks", department_name="공원여가정책과"), metadata=clerk
        )
        card = got.card
        assert card.qr_url == "https://www.instagram.com/seoul.parks/"  # the first live account
        parsed = vobject.readOne(card.vcard)
        assert parsed.version.value == "4.0" and parsed.fn.value == "이공원"
        assert [u.value for u in parsed.contents["url"]] == [
            "https://www.instagram.com/seoul.parks/",
            "https://x.com/seoul_parks",
        ]  # the closed account is not on the card
        assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(card.qr_png)))] == [card.qr_url]
        assert card.qr_svg.startswith("<svg") and [a.handle for a in card.accounts] == ["seoul.parks", "seoul_parks"]

        footer = await stub.GetLetterFooter(
            opb.GetLetterFooterRequest(department="parks", department_name="공원여가정책과",
                                       address="서울특별시 중구 세종대로 110", phone="02-2133-2100",
                                       qr_url="https://parks.seoul.go.kr/sns"),
            metadata=clerk,
        )  # fmt: skip
        assert "X @seoul_parks" in footer.text and "02-2133-2100" in footer.text
        assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(footer.qr_png)))] == [
            "https://parks.seoul.go.kr/sns"
        ]

        staff = [opb.StaffContact(name=f"직원{i:02d}", title="주무관", phone=f"02-2133-{2200 + i}") for i in range(12)]
        sheet = await stub.GetCardSheet(
            opb.GetCardSheetRequest(department="parks", department_name="공원여가정책과", staff=staff),
            metadata=operator,
        )
        assert sheet.pages == 2
        document = pypdfium2.PdfDocument(sheet.pdf)
        page = document[0].render(scale=3).to_pil()
        png = tmp_path / "sheet-page-1.png"
        page.save(png)  # look at it: tmp_path keeps it after the run
        found = zxingcpp.read_barcodes(Image.open(png))
        assert sorted(r.text for r in found) == [card.qr_url] * 10
        assert "직원09" in document[0].get_textpage().get_text_range()

        with pytest.raises(grpc.aio.AioRpcError) as nothing:
            await stub.GetBusinessCard(
                opb.GetBusinessCardRequest(staff=me, department="no-accounts", department_name="없는과"),
                metadata=clerk,
            )
        assert nothing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert (nothing.value.details() or "").startswith("qr_url:")
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetCardSheet(
                opb.GetCardSheetRequest(department="Parks!", department_name="", staff=[
                    opb.StaffContact(name="", phone="call me")]),
                metadata=operator,
            )  # fmt: skip
        assert sorted(v.field for v in field_violations(bad.value)) == [
            "department",
            "department_name",
            "staff[0].name",
            "staff[0].phone",
        ]
        with pytest.raises(grpc.aio.AioRpcError) as citizen:
            await stub.GetBusinessCard(
                opb.GetBusinessCardRequest(staff=me, department="parks", department_name="공원여가정책과"),
                metadata=person(fresh_stack, "citizen-1"),
            )
        assert citizen.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_guidelines_acknowledgements_training_and_compliance_per_department(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("community-api",), say=False)
    operator = person(fresh_stack, "sns-team-1", "operator")
    admin = person(fresh_stack, "admin-parks", "dept_admin")
    async with channel(fresh_stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        for staff, department in (("kim", "parks"), ("lee", "parks"), ("park", "parks"), ("choi", "culture")):
            assert (await stub.RegisterStaff(opb.RegisterStaffRequest(staff=staff, department=department),
                                             metadata=admin)).changed  # fmt: skip
        first = await stub.PublishGuidelines(
            opb.PublishGuidelinesRequest(title="공무원 SNS 이용 지침", body="1. 개인정보를 올리지 않습니다.",
                                         request_id="g-1"),
            metadata=operator,
        )  # fmt: skip
        again = await stub.PublishGuidelines(
            opb.PublishGuidelinesRequest(title="공무원 SNS 이용 지침", body="1. 개인정보를 올리지 않습니다.",
                                         request_id="g-1"),
            metadata=operator,
        )  # fmt: skip
        assert first.created and not again.created and first.guidelines.version == again.guidelines.version == 1
        for who in ("kim", "lee"):
            made = await stub.AcknowledgeGuidelines(
                opb.AcknowledgeGuidelinesRequest(version=1), metadata=person(fresh_stack, who, "moderator")
            )
            assert made.changed
        repeat = await stub.AcknowledgeGuidelines(
            opb.AcknowledgeGuidelinesRequest(version=1), metadata=person(fresh_stack, "kim", "moderator")
        )
        assert not repeat.changed
        mine = await stub.GetGuidelines(opb.GetGuidelinesRequest(), metadata=person(fresh_stack, "kim", "moderator"))
        assert mine.guidelines.version == 1 and mine.HasField("acknowledged_at")

        session = opb.TrainingSession(title="SNS 실무 교육", venue="시청 8층", guidelines_version=1)
        session.starts_at.FromDatetime(datetime.now(UTC) - timedelta(days=2))
        made_session = await stub.CreateTrainingSession(
            opb.CreateTrainingSessionRequest(session=session, request_id="t-1"), metadata=admin
        )
        session_id = made_session.session.session_id
        attended = await stub.RecordAttendance(
            opb.RecordAttendanceRequest(session_id=session_id, staff=["kim", "park", "kim"]), metadata=admin
        )
        assert attended.recorded == 2 and attended.session.attended == 2
        repeat_attendance = await stub.RecordAttendance(
            opb.RecordAttendanceRequest(session_id=session_id, staff=["park"]), metadata=admin
        )
        assert repeat_attendance.recorded == 0
        with pytest.raises(grpc.aio.AioRpcError) as stranger:
            await stub.RecordAttendance(
                opb.RecordAttendanceRequest(session_id=session_id, staff=["kim", "nobody"]), metadata=admin
            )
        assert [v.field for v in field_violations(stranger.value)] == ["staff[1]"]

        view = await stub.GetDepartmentCompliance(
            opb.GetDepartmentComplianceRequest(department="parks"), metadata=admin
        )
        parks = view.departments[0]
        assert (parks.staff_count, parks.acknowledged_current, parks.trained_recently, parks.compliant) == (3, 2, 2, 1)
        assert {s.staff: (s.acknowledged_current, s.trained_recently) for s in parks.staff} == {
            "kim": (True, True),
            "lee": (True, False),
            "park": (False, True),
        }
        everyone = await stub.GetDepartmentCompliance(opb.GetDepartmentComplianceRequest(), metadata=operator)
        assert [(d.department, d.staff_count, d.compliant) for d in everyone.departments] == [
            ("culture", 1, 0),
            ("parks", 3, 1),
        ]

        # A new version: earlier acknowledgements no longer count, and only the current one can be acknowledged.
        await stub.PublishGuidelines(
            opb.PublishGuidelinesRequest(title="공무원 SNS 이용 지침 (개정)", body="2. 선거 기간 유의",
                                         request_id="g-2"),
            metadata=operator,
        )  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as old:
            await stub.AcknowledgeGuidelines(
                opb.AcknowledgeGuidelinesRequest(version=1), metadata=person(fresh_stack, "lee", "moderator")
            )
        assert old.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "version 2" in (old.value.details() or "")
        after = await stub.GetDepartmentCompliance(
            opb.GetDepartmentComplianceRequest(department="parks"), metadata=admin
        )
        assert (after.departments[0].current_version, after.departments[0].acknowledged_current) == (2, 0)
        with pytest.raises(grpc.aio.AioRpcError) as off_roster:
            await stub.AcknowledgeGuidelines(
                opb.AcknowledgeGuidelinesRequest(version=2), metadata=person(fresh_stack, "stranger", "moderator")
            )
        assert off_roster.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.CreateTrainingSession(
                opb.CreateTrainingSessionRequest(session=opb.TrainingSession(title=""), request_id=""),
                metadata=admin,
            )
        assert sorted(v.field for v in field_violations(bad.value)) == [
            "request_id",
            "session.starts_at",
            "session.title",
        ]
        rows = await sql(fresh_stack, "SELECT count(*) AS n FROM guidelines", schema="community")
        assert rows[0]["n"] == 2
