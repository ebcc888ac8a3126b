"""Approval rules for alerts, as pure functions the service calls before anything is sent.

- A real (Actual) alert needs a second person: the approver must not be the drafter, and must hold the
  permission to approve real alerts. This is enforced here, in the service, not only in a UI. People are
  compared by their canonical subject ids (`sotong_common.auth.same_subject`), so "Alice" or "alice" + U+200B
  is still alice.
- Test, Exercise and System alerts need their own permission (drill staff may send drills without being
  allowed to send real alerts), and a second person too: a drill reaches people and an operator who can send
  one alone can send one by mistake. Only a separate permission, `alert.approve.own-drill`, lets the drafter
  approve a drill; it is granted to named people by configuration, never by a role, and every approval that
  uses it says so in the audit trail (`ApprovedAlert.own_drill`).
- Draft alerts are not actionable (CAP 1.2) and are never approved for sending.
- An approved alert never changes: its identifier is spent. Changes are new alerts (msgType Update or Cancel)
  that reference it, built with `derive_update` / `derive_cancel`.
- A second alert for the same hazard and area within 24 hours gives a warning, not a refusal: repeats are
  sometimes right (a worsening storm), but are often a duplicate that trains people to ignore alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sotong_alerting.cap import Alert, Info, MsgType, Reference, Status, validate_alert
from sotong_alerting.channels import Channel, check_channels
from sotong_common.auth import same_subject

PERMISSION_APPROVE_ACTUAL = "alert.approve.actual"
PERMISSION_APPROVE_DRILL = "alert.approve.drill"
PERMISSION_APPROVE_OWN_DRILL = "alert.approve.own-drill"

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "approver": frozenset({PERMISSION_APPROVE_ACTUAL, PERMISSION_APPROVE_DRILL}),
    "operator": frozenset({PERMISSION_APPROVE_DRILL}),
}
"""Default role → permissions (JWT roles of the design guide); the service may pass its own mapping."""

DUPLICATE_WINDOW = timedelta(hours=24)

_DRILLS = frozenset({Status.TEST, Status.EXERCISE, Status.SYSTEM})


class ApprovalRefused(Exception):
    """The alert may not be approved; `reasons` lists every rule it breaks."""

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))


@dataclass(frozen=True, slots=True)
class Person:
    """Someone acting on an alert: an id from the bearer token, its roles, and permissions granted by name."""

    id: str
    roles: frozenset[str] = frozenset()
    grants: frozenset[str] = frozenset()

    def permissions(self, role_permissions: Mapping[str, frozenset[str]] = ROLE_PERMISSIONS) -> frozenset[str]:
        granted: set[str] = set(self.grants)
        for role in self.roles:
            granted |= role_permissions.get(role, frozenset())
        return frozenset(granted)

    def is_(self, other: Person) -> bool:
        """The same person, whatever the spelling of the id (canonical subject ids)."""
        return same_subject(self.id, other.id)


@dataclass(frozen=True, slots=True)
class ApprovedAlert:
    """An alert with who drafted and approved it, and when: the record that makes it immutable."""

    alert: Alert
    drafted_by: str
    approved_by: str
    approved_at: datetime
    own_drill: bool = False
    """The drafter approved their own drill under PERMISSION_APPROVE_OWN_DRILL (to be audited as such)."""


def approval_refusals(
    alert: Alert,
    drafter: Person,
    approver: Person,
    *,
    approved: Mapping[str, Alert] | None = None,
    channels: Iterable[Channel] = (),
    languages: Iterable[str] = ("ko", "en"),
    role_permissions: Mapping[str, frozenset[str]] = ROLE_PERMISSIONS,
) -> list[str]:
    """Every reason `approver` may not approve `alert` drafted by `drafter` (empty: approval allowed).

    `approved` maps identifiers of alerts already approved to those alerts, to keep them immutable;
    `channels` are the channels the alert will go to, whose limits must hold before approval.
    """
    reasons: list[str] = []
    permissions = approver.permissions(role_permissions)
    if alert.status is Status.DRAFT:
        reasons.append("a Draft alert is not actionable; set the status to Actual, Exercise or Test first")
    elif alert.status is Status.ACTUAL:
        if approver.is_(drafter):
            reasons.append(
                f"an Actual alert needs a second person's approval; {approver.id} drafted it and cannot approve it"
            )
        if PERMISSION_APPROVE_ACTUAL not in permissions:
            reasons.append(f"{approver.id} may not approve Actual alerts (needs {PERMISSION_APPROVE_ACTUAL})")
    elif alert.status in _DRILLS:
        if PERMISSION_APPROVE_DRILL not in permissions:
            reasons.append(
                f"{approver.id} may not approve {alert.status.value} alerts (needs {PERMISSION_APPROVE_DRILL})"
            )
        if approver.is_(drafter) and PERMISSION_APPROVE_OWN_DRILL not in permissions:
            reasons.append(
                f"a {alert.status.value} alert needs a second person's approval too; {approver.id} drafted it "
                f"(approving one's own drill needs {PERMISSION_APPROVE_OWN_DRILL})"
            )

    earlier = (approved or {}).get(alert.identifier)
    if earlier is not None and earlier != alert:
        reasons.append(
            f"alert {alert.identifier} is already approved and never changes; "
            "issue an Update or Cancel that references it"
        )
    if alert.msg_type in {MsgType.UPDATE, MsgType.CANCEL} and approved is not None:
        unknown = [str(ref) for ref in alert.references if ref.identifier not in approved]
        if unknown:
            reasons.append(f"{alert.msg_type.value} references alerts that were never approved: {', '.join(unknown)}")

    reasons.extend(f"invalid CAP: {problem}" for problem in validate_alert(alert))
    reasons.extend(f"channel limit: {violation}" for violation in check_channels(alert, channels, languages))
    return reasons


def approve(
    alert: Alert,
    drafter: Person,
    approver: Person,
    at: datetime,
    *,
    approved: Mapping[str, Alert] | None = None,
    channels: Iterable[Channel] = (),
    languages: Iterable[str] = ("ko", "en"),
    role_permissions: Mapping[str, frozenset[str]] = ROLE_PERMISSIONS,
) -> ApprovedAlert:
    """Approve the alert or raise ApprovalRefused with every reason."""
    if at.utcoffset() is None:
        raise ValueError("approval times must be timezone-aware")
    reasons = approval_refusals(
        alert,
        drafter,
        approver,
        approved=approved,
        channels=channels,
        languages=languages,
        role_permissions=role_permissions,
    )
    if reasons:
        raise ApprovalRefused(reasons)
    own_drill = alert.status in _DRILLS and approver.is_(drafter)
    return ApprovedAlert(
        alert=alert, drafted_by=drafter.id, approved_by=approver.id, approved_at=at, own_drill=own_drill
    )


def is_drill(alert: Alert) -> bool:
    """Test, Exercise and System alerts: they never move an incident, whatever they say."""
    return alert.status in _DRILLS


def _references_to(original: Alert) -> tuple[Reference, ...]:
    chain = [*original.references, original.reference]
    return tuple(dict.fromkeys(chain))


def derive_update(
    original: Alert,
    *,
    identifier: str,
    sent: datetime,
    infos: tuple[Info, ...] | None = None,
    note: str | None = None,
) -> Alert:
    """A new Update alert superseding `original` (which stays as it was), referencing it and its chain."""
    if identifier == original.identifier:
        raise ValueError("an update needs a new identifier; the original alert never changes")
    return replace(
        original,
        identifier=identifier,
        sent=sent,
        msg_type=MsgType.UPDATE,
        references=_references_to(original),
        infos=original.infos if infos is None else infos,
        note=note,
    )


def derive_cancel(
    original: Alert,
    *,
    identifier: str,
    sent: datetime,
    note: str,
    infos: tuple[Info, ...] | None = None,
) -> Alert:
    """A new Cancel alert withdrawing `original`, referencing it and its chain; `note` says why."""
    if identifier == original.identifier:
        raise ValueError("a cancellation needs a new identifier; the original alert never changes")
    return replace(
        original,
        identifier=identifier,
        sent=sent,
        msg_type=MsgType.CANCEL,
        references=_references_to(original),
        infos=original.infos if infos is None else infos,
        note=note,
    )


@dataclass(frozen=True, slots=True)
class DuplicateWarning:
    """The candidate looks like a repeat of a recent alert; shown to the approver, who decides."""

    other: Reference
    hazard: str
    area: str
    apart: timedelta
    message: str


def _hazards(alert: Alert) -> set[str]:
    found = {info.event.strip().casefold() for info in alert.infos}
    found |= {f"code:{code.name}={code.value}".casefold() for info in alert.infos for code in info.event_codes}
    return found


def _areas(alert: Alert) -> set[str]:
    found: set[str] = set()
    for info in alert.infos:
        for area in info.areas:
            found.add(f"desc:{area.area_desc.strip().casefold()}")
            found |= {f"geocode:{code.name}={code.value}" for code in area.geocodes}
    return found


def duplicate_warnings(
    candidate: Alert, recent: Iterable[Alert], *, window: timedelta = DUPLICATE_WINDOW
) -> list[DuplicateWarning]:
    """Warnings for recent alerts with the same hazard and area sent within `window` of the candidate.

    Not counted: the candidate's own chain (an Update of the original is expected), alerts of a different
    kind (a drill does not duplicate a real alert), and Cancel/Ack/Error messages.
    """
    referenced = {ref.identifier for ref in candidate.references}
    hazards, areas = _hazards(candidate), _areas(candidate)
    real = candidate.status is Status.ACTUAL
    warnings = []
    for other in recent:
        if other.identifier == candidate.identifier or other.identifier in referenced:
            continue
        if (other.status is Status.ACTUAL) != real or other.msg_type not in {MsgType.ALERT, MsgType.UPDATE}:
            continue
        apart = abs(candidate.sent - other.sent)
        if apart >= window:
            continue
        same_hazard = hazards & _hazards(other)
        same_area = areas & _areas(other)
        if not same_hazard or not same_area:
            continue
        hazard = sorted(same_hazard)[0]
        area = sorted(same_area)[0].split(":", 1)[1]
        hours = apart.total_seconds() / 3600
        warnings.append(
            DuplicateWarning(
                other=other.reference,
                hazard=hazard,
                area=area,
                apart=apart,
                message=(
                    f"alert {other.identifier} for the same hazard ({hazard}) and area ({area}) was sent "
                    f"{hours:.1f} h apart; send an Update of it instead, or confirm this is a new alert"
                ),
            )
        )
    return warnings
