from __future__ import annotations

import base64

import pytest

from sotong_common import config
from sotong_console.settings import Console, parse_dev_users, parse_public_url, parse_session_keys

KEY = "k1:" + base64.b64encode(b"\x07" * 32).decode()
BASE = {
    "SOTONG_CONSOLE_GATEWAY_TARGET": "127.0.0.1:50051",
    "SOTONG_CONSOLE_SESSION_KEYS": KEY,
    "SOTONG_JWT_SECRET": "s" * 32,
}


def test_dev_users_name_their_staff_roles() -> None:
    users = parse_dev_users("duty-kim=operator,lee=approver+operator")
    assert [(u.subject, sorted(u.roles)) for u in users] == [
        ("duty-kim", ["operator"]),
        ("lee", ["approver", "operator"]),
    ]
    with pytest.raises(ValueError, match="citizen"):
        parse_dev_users("someone=citizen")
    with pytest.raises(ValueError, match="subject=role"):
        parse_dev_users("nobody")


def test_session_keys_are_32_byte_aes_keys_with_ids() -> None:
    assert parse_session_keys(KEY)[0][0] == "k1"
    with pytest.raises(ValueError, match="32 bytes"):
        parse_session_keys("k1:" + base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="base64"):
        parse_session_keys("k1:not base64!")


def test_public_url_is_an_origin() -> None:
    assert parse_public_url("https://console.seoul.example/") == "https://console.seoul.example"
    with pytest.raises(ValueError):
        parse_public_url("https://console.seoul.example/path")


def test_somebody_must_be_able_to_sign_in_and_local_users_are_not_for_production() -> None:
    with pytest.raises(config.ConfigError, match="nobody can sign in"):
        Console.load(BASE)
    local = {**BASE, "SOTONG_CONSOLE_DEV_USERS": "kim=operator", "SOTONG_CONSOLE_DEV_PASSWORD": "long-enough"}
    assert Console.load(local).console_dev_users[0].subject == "kim"
    with pytest.raises(config.ConfigError, match="at least 8"):
        Console.load({**local, "SOTONG_CONSOLE_DEV_PASSWORD": "short"})
    with pytest.raises(config.ConfigError, match="local development"):
        Console.load({**local, "SOTONG_JWT_JWKS": '{"keys": []}'})
