import time

import jwt
import pytest

from sotong_common import auth

SECRET = "s" * 32
POLICY = auth.Policy({"/svc.v1.S/Submit": {"citizen"}, "/svc.v1.S/Approve": {"approver"}})


def test_round_trip_and_role_check() -> None:
    principal = auth.verify(SECRET, auth.issue(SECRET, "kim", ["citizen"]))
    assert principal.subject == "kim" and principal.roles == {"citizen"}
    POLICY.check("/svc.v1.S/Submit", principal)
    with pytest.raises(auth.AuthError, match="needs one of the roles") as denied:
        POLICY.check("/svc.v1.S/Approve", principal)
    assert denied.value.permission


def test_undeclared_methods_fail_closed_but_admin_passes() -> None:
    citizen = auth.Principal("kim", frozenset({"citizen"}))
    with pytest.raises(auth.AuthError, match="not open to any role"):
        POLICY.check("/svc.v1.S/Forgotten", citizen)
    POLICY.check("/svc.v1.S/Forgotten", auth.Principal("root", frozenset({"admin"})))


def test_health_is_open_and_missing_token_is_unauthenticated() -> None:
    POLICY.check("/grpc.health.v1.Health/Check", None)
    with pytest.raises(auth.AuthError, match="missing bearer token") as missing:
        POLICY.check("/svc.v1.S/Submit", None)
    assert not missing.value.permission


def test_expired_wrong_key_and_unknown_role_are_refused() -> None:
    claims = {"sub": "kim", "roles": ["citizen"], "exp": int(time.time()) - 5, "iss": "sotong"}
    expired = jwt.encode(claims, SECRET, "HS256")
    with pytest.raises(auth.AuthError, match="expired"):
        auth.verify(SECRET, expired)
    with pytest.raises(auth.AuthError, match="invalid token"):
        auth.verify("another-key-another-key-another!", auth.issue(SECRET, "kim", ["citizen"]))
    with pytest.raises(ValueError, match="unknown roles"):
        auth.issue(SECRET, "kim", ["mayor"])


def test_bearer_parsing() -> None:
    assert auth.bearer([("authorization", "Bearer abc")]) == "abc"
    assert auth.bearer([("authorization", "Basic abc")]) is None
    assert auth.bearer(None) is None
