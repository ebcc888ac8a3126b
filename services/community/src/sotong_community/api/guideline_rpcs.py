"""Staff social-media guidelines: versions, acknowledgements, training sessions, attendance, compliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common import auth
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import accounts, guidelines
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations

MAX_GUIDELINES = 50_000
MAX_ATTENDANCE = 500


def _staff_id(v: Violations, field: str, value: str) -> str:
    problem = auth.subject_problem(value)
    if problem is not None:
        v.add(field, f"{field} must be a staff subject id: {problem}")
    return value


@refuse_control_characters
class GuidelineRpcs:
    ctx: Context

    async def PublishGuidelines(
        self, request: opb.PublishGuidelinesRequest, context: Any
    ) -> opb.PublishGuidelinesResponse:
        v = Violations()
        title = v.text("title", request.title, limit=150, single_line=True)
        body = v.text("body", request.body, limit=MAX_GUIDELINES)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        row, created = await self.ctx.guidelines.publish(principal().subject, title, body, request_id)
        return opb.PublishGuidelinesResponse(guidelines=_view(row), created=created)

    async def GetGuidelines(self, request: opb.GetGuidelinesRequest, context: Any) -> opb.GetGuidelinesResponse:
        v = Violations()
        if request.version < 0:
            v.add("version", "version must be 0 (the current one) or a published version")
        v.raise_if_any()
        row = await self.ctx.guidelines.get(request.version)
        at = await self.ctx.guidelines.acknowledged_at(principal().subject, row["version"])
        return opb.GetGuidelinesResponse(guidelines=_view(row), acknowledged_at=views.ts(at))

    async def RegisterStaff(self, request: opb.RegisterStaffRequest, context: Any) -> opb.RegisterStaffResponse:
        v = Violations()
        staff = _staff_id(v, "staff", request.staff)
        department = accounts.check_department(v, "department", request.department)
        v.raise_if_any()
        return opb.RegisterStaffResponse(changed=await self.ctx.guidelines.register_staff(staff, department))

    async def AcknowledgeGuidelines(
        self, request: opb.AcknowledgeGuidelinesRequest, context: Any
    ) -> opb.AcknowledgeGuidelinesResponse:
        v = Violations()
        if request.version <= 0:
            v.add("version", "version must be the current guidelines' version")
        v.raise_if_any()
        changed, at = await self.ctx.guidelines.acknowledge(principal().subject, request.version)
        return opb.AcknowledgeGuidelinesResponse(changed=changed, acknowledged_at=views.ts(at))

    async def CreateTrainingSession(
        self, request: opb.CreateTrainingSessionRequest, context: Any
    ) -> opb.CreateTrainingSessionResponse:
        v = Violations()
        session = request.session
        title = v.text("session.title", session.title, limit=150, single_line=True)
        venue = v.text("session.venue", session.venue, required=False, limit=150, single_line=True)
        if not session.HasField("starts_at"):
            v.add("session.starts_at", "session.starts_at must be set")
        if session.guidelines_version < 0:
            v.add("session.guidelines_version", "session.guidelines_version must not be negative")
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        try:
            starts_at = session.starts_at.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            v.add("session.starts_at", "session.starts_at is out of range")
            v.raise_if_any()
            raise
        row, created = await self.ctx.guidelines.create_session(
            principal().subject, title, starts_at, venue, session.guidelines_version, request_id
        )
        return opb.CreateTrainingSessionResponse(session=_session(row, 0), created=created)

    async def RecordAttendance(
        self, request: opb.RecordAttendanceRequest, context: Any
    ) -> opb.RecordAttendanceResponse:
        v = Violations()
        session_id = v.required_id("session_id", request.session_id)
        if not 1 <= len(request.staff) <= MAX_ATTENDANCE:
            v.add("staff", f"staff must list 1 to {MAX_ATTENDANCE} staff members")
        staff = [_staff_id(v, f"staff[{i}]", s) for i, s in enumerate(request.staff[:MAX_ATTENDANCE])]
        v.raise_if_any()
        recorded = await self.ctx.guidelines.record_attendance(session_id, staff)
        row, attended = await self.ctx.guidelines.session(session_id)
        return opb.RecordAttendanceResponse(recorded=recorded, session=_session(row, attended))

    async def GetDepartmentCompliance(
        self, request: opb.GetDepartmentComplianceRequest, context: Any
    ) -> opb.GetDepartmentComplianceResponse:
        v = Violations()
        if request.department:
            accounts.check_department(v, "department", request.department)
        v.raise_if_any()
        valid_days = self.ctx.outreach.training_valid_days
        current = await self.ctx.guidelines.current_version()
        states = await self.ctx.guidelines.states(request.department)
        found = guidelines.by_department(states, current, datetime.now(UTC), timedelta(days=valid_days))
        return opb.GetDepartmentComplianceResponse(
            departments=[
                opb.DepartmentCompliance(
                    department=d.department,
                    current_version=d.current_version,
                    staff_count=len(d.staff),
                    acknowledged_current=d.acknowledged_current,
                    trained_recently=d.trained_recently,
                    compliant=d.compliant,
                    staff=[
                        opb.StaffCompliance(
                            staff=s.staff,
                            acknowledged_version=s.acknowledged_version,
                            acknowledged_current=s.acknowledged_current,
                            last_trained_at=views.ts(s.last_trained_at),
                            trained_recently=s.trained_recently,
                        )
                        for s in d.staff
                    ]
                    if request.department
                    else [],
                )
                for d in found
            ],
            training_valid_days=valid_days,
        )


def _view(row: Any) -> opb.Guidelines:
    return opb.Guidelines(
        version=row["version"],
        title=row["title"],
        body=row["body"],
        published_at=views.ts(row["published_at"]),
        published_by=row["published_by"],
    )


def _session(row: Any, attended: int) -> opb.TrainingSession:
    return opb.TrainingSession(
        session_id=str(row["session_id"]),
        title=row["title"],
        starts_at=views.ts(row["starts_at"]),
        venue=row["venue"],
        guidelines_version=row["guidelines_version"],
        attended=attended,
    )
