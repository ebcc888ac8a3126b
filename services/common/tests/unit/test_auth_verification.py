"""The `verification` claim: how far the identity provider verified the person, carried on the principal."""

import time

import jwt
import pytest

from sotong_common import auth

SECRET = "v" * 32


def test_a_token_without_the_claim_is_unverified() -> None:
    principal = auth.verify(SECRET, auth.issue(SECRET, "kim", ["citizen"]))
    assert principal.verification == auth.NO_VERIFICATION == "none"


def test_the_claim_travels_onto_the_principal() -> None:
    principal = auth.verify(SECRET, auth.issue(SECRET, "kim", ["citizen"], verification="identity"))
    assert principal == auth.Principal("kim", frozenset({"citizen"}), verification="identity")


@pytest.mark.parametrize("bad", [3, "", "x" * 33, ["identity"], None])
def test_a_malformed_claim_refuses_the_token(bad: object) -> None:
    claims = {"sub": "kim", "roles": ["citizen"], "exp": int(time.time()) + 60, "iss": "sotong", "verification": bad}
    with pytest.raises(auth.AuthError, match="verification"):
        auth.verify(SECRET, jwt.encode(claims, SECRET, "HS256"))
