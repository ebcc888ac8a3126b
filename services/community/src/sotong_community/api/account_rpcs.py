"""The official SNS account registry and its audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import accounts, audit
from sotong_community.account_store import AuditResult, NewAccount, result_of
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.input_rules import Violations

STATUS = {
    opb.ACCOUNT_STATUS_ACTIVE: accounts.ACTIVE,
    opb.ACCOUNT_STATUS_DORMANT: accounts.DORMANT,
    opb.ACCOUNT_STATUS_MERGED: accounts.MERGED,
    opb.ACCOUNT_STATUS_CLOSED: accounts.CLOSED,
}
STATUS_PROTO = {v: k for k, v in STATUS.items()}
_MONTH_LENGTH = 7


def account_view(row: asyncpg.Record) -> opb.SnsAccount:
    return opb.SnsAccount(
        account_id=str(row["account_id"]),
        platform=row["platform"],
        handle=row["handle"],
        url=row["url"],
        department=row["department"],
        department_name=row["department_name"],
        managers=list(row["managers"]),
        purpose=row["purpose"],
        audience=row["audience"],
        status=STATUS_PROTO[row["status"]],
        publishing_target=row["publishing_target"],
        district_code=row["district_code"],
        language=row["language"],
        merged_into=str(row["merged_into"] or ""),
        version=row["version"],
        registered_at=views.ts(row["registered_at"]),
        last_post_at=views.ts(row["last_post_at"]),
    )


def audit_view(result: AuditResult) -> opb.AccountAudit:
    return opb.AccountAudit(
        month=result.month,
        ran_at=views.ts(result.ran_at),
        newly_dormant=result.newly_dormant,
        merge_candidates=[
            opb.MergeCandidate(account_id=c.account_id, other_account_id=c.other_account_id, overlap=c.overlap)
            for c in result.candidates
        ],
        active=result.counts.get("active", 0),
        dormant=result.counts.get("dormant", 0),
        merged=result.counts.get("merged", 0),
        closed=result.counts.get("closed", 0),
    )


def _fields(
    v: Violations, account: opb.SnsAccount, prefix: str, names: set[str], platform: str, current_handle: str = ""
) -> dict[str, Any]:
    """The named fields of `account`, checked; `platform` is the account's (registration: the request's). A URL
    must name the handle: the new one when it changes too, else the account's `current_handle`."""
    out: dict[str, Any] = {}
    handle = account.handle.strip() if "handle" in names else current_handle
    if "handle" in names:
        out["handle"] = accounts.check_handle(v, prefix + "handle", platform, handle)
    if "url" in names:
        out["url"] = accounts.check_url(v, prefix + "url", platform, handle, account.url.strip())
    if "department" in names:
        out["department"] = accounts.check_department(v, prefix + "department", account.department)
    if "department_name" in names:
        out["department_name"] = v.text(prefix + "department_name", account.department_name, limit=80,
                                        single_line=True)  # fmt: skip
    if "managers" in names:
        out["managers"] = accounts.check_managers(v, prefix + "managers", list(account.managers))
    if "purpose" in names:
        out["purpose"] = v.text(prefix + "purpose", account.purpose, required=False, limit=accounts.MAX_PURPOSE)
    if "audience" in names:
        out["audience"] = v.text(prefix + "audience", account.audience, required=False, limit=accounts.MAX_PURPOSE)
    if "publishing_target" in names:
        out["publishing_target"] = accounts.check_target(
            v, prefix + "publishing_target", account.publishing_target.strip()
        ) or handle.lstrip("@")
    if "district_code" in names:
        out["district_code"] = v.district(prefix + "district_code", account.district_code)
    if "language" in names:
        out["language"] = accounts.check_language(v, prefix + "language", account.language)
    return out


def _month(value: str) -> str:
    if not value:
        return audit.month_of(datetime.now(UTC))
    v = Violations()
    try:
        if len(value) != _MONTH_LENGTH:
            raise ValueError(value)
        datetime.strptime(value, "%Y-%m")
    except ValueError:
        v.add("month", "month must be YYYY-MM")
    v.raise_if_any()
    return value


@refuse_control_characters
class AccountRpcs:
    ctx: Context

    async def RegisterAccount(self, request: opb.RegisterAccountRequest, context: Any) -> opb.RegisterAccountResponse:
        v = Violations()
        platform = accounts.check_platform(v, "account.platform", request.account.platform)
        found = _fields(v, request.account, "account.", set(accounts.UPDATABLE), platform)
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        row, created = await self.ctx.accounts.register(principal().subject, NewAccount(**found, platform=platform),
                                                        request_id)  # fmt: skip
        return opb.RegisterAccountResponse(account=account_view(row), created=created)

    async def UpdateAccount(self, request: opb.UpdateAccountRequest, context: Any) -> opb.UpdateAccountResponse:
        v = Violations()
        account_id = v.required_id("account_id", request.account_id)
        names = list(request.fields)
        if not names:
            v.add("fields", "fields must name what to change")
        for index, name in enumerate(names):
            if name not in accounts.UPDATABLE:
                v.add(f"fields[{index}]", f"fields[{index}] must be one of {', '.join(accounts.UPDATABLE)}")
        if request.expected_version < 0:
            v.add("expected_version", "expected_version must not be negative")
        v.raise_if_any()
        row = await self.ctx.accounts.get(account_id)
        changes = _fields(v, request.account, "account.", set(names), row["platform"], row["handle"])
        v.raise_if_any()
        updated = await self.ctx.accounts.update(account_id, changes, request.expected_version, principal().subject)
        return opb.UpdateAccountResponse(account=account_view(updated))

    async def ChangeAccountStatus(
        self, request: opb.ChangeAccountStatusRequest, context: Any
    ) -> opb.ChangeAccountStatusResponse:
        v = Violations()
        account_id = v.required_id("account_id", request.account_id)
        status = STATUS.get(request.status)
        if status is None:
            v.add("status", "status must be ACTIVE, DORMANT, MERGED or CLOSED")
        reason = v.text("reason", request.reason, required=False, limit=1000)
        merged_into = v.optional_id("merged_into", request.merged_into)
        if status == accounts.MERGED and merged_into is None and not request.merged_into:
            v.add("merged_into", "merged_into must name the account this one is merged into")
        elif status != accounts.MERGED and request.merged_into:
            v.add("merged_into", "merged_into is only for ACCOUNT_STATUS_MERGED")
        v.raise_if_any()
        assert status is not None
        row, changed = await self.ctx.accounts.change_status(account_id, status, reason, merged_into,
                                                             principal().subject)  # fmt: skip
        return opb.ChangeAccountStatusResponse(account=account_view(row), changed=changed)

    async def GetAccount(self, request: opb.GetAccountRequest, context: Any) -> opb.GetAccountResponse:
        v = Violations()
        account_id = v.required_id("account_id", request.account_id)
        v.raise_if_any()
        row = await self.ctx.accounts.get(account_id)
        history = await self.ctx.accounts.history(account_id)
        return opb.GetAccountResponse(
            account=account_view(row),
            history=[
                opb.AccountChange(
                    sequence=h["sequence"],
                    change=h["change"],
                    status=STATUS_PROTO[h["status"]],
                    fields=list(h["fields"]),
                    actor=h["actor"],
                    reason=h["reason"],
                    at=views.ts(h["at"]),
                )
                for h in history
            ],
        )

    async def ListAccounts(self, request: opb.ListAccountsRequest, context: Any) -> opb.ListAccountsResponse:
        v = Violations()
        if request.department:
            accounts.check_department(v, "department", request.department)
        if request.platform:
            accounts.check_platform(v, "platform", request.platform)
        status = STATUS.get(request.status, "")
        if request.status and not status:
            v.add("status", "status must be a known account status")
        v.raise_if_any()
        rows = await self.ctx.accounts.find(request.department, request.platform, status)
        return opb.ListAccountsResponse(accounts=[account_view(r) for r in rows])

    async def RunAccountAudit(self, request: opb.RunAccountAuditRequest, context: Any) -> opb.RunAccountAuditResponse:
        result = await self.ctx.accounts.run_audit(
            datetime.now(UTC), timedelta(days=self.ctx.outreach.dormant_days), self.ctx.outreach.merge_overlap
        )
        return opb.RunAccountAuditResponse(audit=audit_view(result))

    async def GetAccountAuditReport(
        self, request: opb.GetAccountAuditReportRequest, context: Any
    ) -> opb.GetAccountAuditReportResponse:
        month = _month(request.month)
        if request.format not in (opb.REPORT_FORMAT_CSV, opb.REPORT_FORMAT_HTML):
            v = Violations()
            v.add("format", "format must be REPORT_FORMAT_CSV or REPORT_FORMAT_HTML")
            v.raise_if_any()
        row = await self.ctx.accounts.audit_report(month)
        if request.format == opb.REPORT_FORMAT_CSV:
            content_type, content = "text/csv; charset=utf-8", bytes(row["report_csv"])
        else:
            content_type, content = "text/html; charset=utf-8", bytes(row["report_html"])
        return opb.GetAccountAuditReportResponse(audit=audit_view(result_of(row)), content_type=content_type,
                                                 content=content)  # fmt: skip
