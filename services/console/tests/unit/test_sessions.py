from __future__ import annotations

import base64
import time

from sotong_console.sessions import Sealer, Sessions, same_origin, same_token

KEY_A = ("a", b"\x01" * 32)
KEY_B = ("b", b"\x02" * 32)


def sessions(*keys: tuple[str, bytes], secure: bool = True) -> Sessions:
    return Sessions(Sealer(keys or (KEY_A,)), secure=secure)


def test_a_sealed_session_opens_with_its_roles_token_and_csrf() -> None:
    kept = sessions()
    session = kept.new("duty-kim", frozenset({"operator"}), "token-1", time.time() + 60)
    opened = kept.open(kept.seal(session))
    assert opened == session
    assert len(session.csrf) >= 32


def test_a_tampered_cookie_another_cookies_value_and_garbage_do_not_open() -> None:
    kept = sessions()
    sealed = kept.seal(kept.new("duty-kim", frozenset({"operator"}), "t", time.time() + 60))
    key_id, _, body = sealed.partition(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 1
    tampered = key_id + "." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert kept.open(tampered) is None
    # The sign-in cookie's value is sealed for its own name: it never opens as a session.
    assert kept.open(kept.seal_sign_in({"csrf": "x"})) is None
    for garbage in ("", "nodot", "zz.abc", "a." + "A" * 10, "a." + "x" * 9000):
        assert kept.open(garbage) is None


def test_an_older_key_still_opens_and_the_newest_seals() -> None:
    old = sessions(KEY_A)
    sealed = old.seal(old.new("lee", frozenset({"approver"}), "t", time.time() + 60))
    rotated = sessions(KEY_B, KEY_A)
    assert rotated.open(sealed) is not None
    assert rotated.seal(rotated.new("lee", frozenset({"approver"}), "t", time.time() + 60)).startswith("b.")
    assert sessions(KEY_B).open(sealed) is None  # a key taken out of the list no longer opens anything


def test_an_expired_session_is_no_session() -> None:
    kept = sessions()
    assert kept.open(kept.seal(kept.new("kim", frozenset({"operator"}), "t", time.time() - 1))) is None


def test_cookies_are_host_only_secure_httponly_and_lax_over_https() -> None:
    kept = sessions(secure=True)
    assert kept.session_cookie == "__Host-sotong-console"
    options = kept.cookie_options(60)
    assert options == {"httponly": True, "samesite": "Lax", "path": "/", "secure": True, "max_age": 60}
    assert sessions(secure=False).session_cookie == "sotong-console"


def test_admin_holds_every_role_as_at_the_gateway() -> None:
    kept = sessions()
    assert kept.new("root", frozenset({"admin"}), "t", time.time() + 60).may("approver")
    assert not kept.new("choi", frozenset({"moderator"}), "t", time.time() + 60).may("operator", "approver")


def test_a_post_must_come_from_the_console_itself() -> None:
    own = "http://127.0.0.1:8080"
    assert same_origin("http://127.0.0.1:8080", None, own)
    assert not same_origin("https://evil.example", f"{own}/incidents", own)  # Origin wins over Referer
    assert same_origin(None, f"{own}/incidents", own)
    assert not same_origin(None, "http://127.0.0.1:8080.evil.example/", own)
    assert not same_origin(None, None, own)


def test_csrf_tokens_compare_whole() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "ab")
    assert not same_token("abc", None)
    assert not same_token("abc", "")
