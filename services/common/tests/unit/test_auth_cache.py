import time

import jwt
import pytest

from sotong_common import auth

SECRET = "s" * 32
OTHER = "another-key-another-key-another!"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_answered_from_the_cache() -> None:
    tokens = auth.VerifiedTokens(SECRET)
    token = auth.issue(SECRET, "kim", ["citizen"])
    first = tokens.verify(token)
    assert first == auth.Principal("kim", frozenset({"citizen"}))
    assert tokens.verify(token) is first
    assert len(tokens) == 1


def test_a_cached_token_is_checked_again_from_its_exp_on(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    tokens = auth.VerifiedTokens(SECRET, clock=clock)
    exp = int(clock.now) + 60
    token = jwt.encode({"sub": "kim", "roles": ["citizen"], "exp": exp, "iss": "sotong"}, SECRET, "HS256")
    calls: list[str] = []
    real = auth.TokenVerifier._decode

    def counting(self: auth.TokenVerifier, value: str) -> tuple[auth.Principal, float]:
        calls.append(value)
        return real(self, value)

    monkeypatch.setattr(auth.TokenVerifier, "_decode", counting)
    tokens.verify(token)
    clock.now = exp - 0.5
    tokens.verify(token)
    assert len(calls) == 1
    clock.now = exp
    tokens.verify(token)  # no longer answered from the cache: verified again (the real clock is still before exp)
    assert len(calls) == 2


def test_an_expired_cached_token_is_refused_like_verify_refuses_it() -> None:
    tokens = auth.VerifiedTokens(SECRET)
    claims = {"sub": "kim", "roles": ["citizen"], "exp": time.time() + 1.2, "iss": "sotong"}
    token = jwt.encode(claims, SECRET, "HS256")
    assert tokens.verify(token).subject == "kim"
    time.sleep(1.3)
    with pytest.raises(auth.AuthError, match="expired"):
        tokens.verify(token)
    assert len(tokens) == 0


def test_a_token_signed_with_another_key_is_never_cached_as_valid() -> None:
    tokens = auth.VerifiedTokens(SECRET)
    forged = auth.issue(OTHER, "kim", ["admin"])
    for _ in range(3):
        with pytest.raises(auth.AuthError, match="invalid token"):
            tokens.verify(forged)
    assert len(tokens) == 0


def test_a_cache_for_one_secret_does_not_vouch_for_another() -> None:
    token = auth.issue(SECRET, "kim", ["citizen"])
    auth.VerifiedTokens(SECRET).verify(token)
    with pytest.raises(auth.AuthError, match="invalid token"):
        auth.VerifiedTokens(OTHER).verify(token)


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    tokens = auth.VerifiedTokens(SECRET, max_size=2)
    a, b, c = (auth.issue(SECRET, name, ["citizen"]) for name in ("a", "b", "c"))
    tokens.verify(a)
    tokens.verify(b)
    tokens.verify(a)  # a is now the most recently used
    tokens.verify(c)
    assert len(tokens) == 2
    assert list(tokens._known) == [a, c]
