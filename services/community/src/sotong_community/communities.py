"""Citizen communities (task 5): who may do what in a group.

The founder is its owner; the owner makes members moderators; owners and moderators decide join requests, and
file proposals and open debates on behalf of the community. Every member may post. The owner cannot leave (a
community always has one); nobody can change the owner's role.
"""

from __future__ import annotations

from sotong_common.errors import FailedPrecondition, PermissionDenied

OWNER, MODERATOR, MEMBER = "owner", "moderator", "member"
ROLES = (OWNER, MODERATOR, MEMBER)
MANAGERS = frozenset({OWNER, MODERATOR})
MAX_TOPIC = 40


def require_member(role: str | None, act: str) -> str:
    if role is None:
        raise PermissionDenied(f"only members of the community may {act}")
    return role


def require_manager(role: str | None, act: str) -> None:
    if role not in MANAGERS:
        raise PermissionDenied(f"only the community's owner and moderators may {act}")


def require_owner(role: str | None, act: str) -> None:
    if role != OWNER:
        raise PermissionDenied(f"only the community's owner may {act}")


def require_active(status: str) -> None:
    if status != "active":
        raise FailedPrecondition(f"the community is {status.replace('_', ' ')}, not active")


def assignable(role: str) -> bool:
    """Roles the owner may give (ownership is not handed over by this call)."""
    return role in (MODERATOR, MEMBER)
