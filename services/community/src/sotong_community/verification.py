"""Verification levels: how far the identity provider verified a person, and what each act needs.

A token carries its level in the `verification` claim (`sotong_common.auth.Principal.verification`). Levels are
ordered: a resident (verified as living in Seoul) is also identity-verified, who is also phone-verified. A level
this service does not know counts as unverified, so a misconfigured identity provider fails closed.
"""

from __future__ import annotations

from sotong_common.errors import FieldViolation, InvalidArgument, PermissionDenied

LEVELS = ("none", "phone", "identity", "resident")
REQUIRED_LEVELS = LEVELS[1:]
DESCRIBED = {
    "phone": "a verified mobile phone number",
    "identity": "identity verification (본인인증)",
    "resident": "verification as a Seoul resident",
}


def rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


def satisfies(held: str, needed: str) -> bool:
    return rank(held) >= rank(needed)


def require(held: str, needed: str, act: str) -> None:
    """PERMISSION_DENIED naming the level `act` needs when `held` is below it."""
    if not satisfies(held, needed):
        raise PermissionDenied(
            f"{act} needs verification level '{needed}' ({DESCRIBED.get(needed, needed)}); "
            f"your sign-in carries '{held if held in LEVELS else 'none'}'"
        )


def check_level(field: str, level: str) -> str:
    """A level a space or a poll may require (INVALID_ARGUMENT naming `field` otherwise); empty = identity."""
    if not level:
        return "identity"
    if level not in REQUIRED_LEVELS:
        raise InvalidArgument(FieldViolation(field, f"{field} must be one of {', '.join(REQUIRED_LEVELS)}"))
    return level
