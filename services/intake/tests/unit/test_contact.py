"""Reporter contact: encryption at rest with key rotation, masking for logs, retention."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from sotong_intake.contact import (
    ContactDecryptionError,
    ContactRecord,
    KeyRing,
    RetentionPolicy,
    SealedContact,
    mask_contact,
    mask_email,
    mask_name,
    mask_phone,
    needs_rekey,
    open_contact,
    past_retention,
    purge_cutoffs,
    rekey,
    seal_contact,
)
from sotong_intake.submission import Contact

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()
CONTACT = Contact(name="김민수", phone="010-1234-5678", email="minsu@example.com", channel_user_id="kakao-user-9")


def test_round_trip_through_bytes() -> None:
    ring = KeyRing.from_config(f"2025-01:{K1}")
    sealed = seal_contact(CONTACT, ring, "sub-1")
    assert b"010-1234-5678" not in sealed.to_bytes() and "김민수".encode() not in sealed.to_bytes()
    assert open_contact(SealedContact.from_bytes(sealed.to_bytes()), ring, "sub-1") == CONTACT


def test_nonce_is_fresh_each_time() -> None:
    ring = KeyRing.from_config(f"k1:{K1}")
    assert seal_contact(CONTACT, ring, "s").ciphertext != seal_contact(CONTACT, ring, "s").ciphertext


def test_other_submission_id_fails() -> None:
    ring = KeyRing.from_config(f"k1:{K1}")
    sealed = seal_contact(CONTACT, ring, "sub-1")
    with pytest.raises(ContactDecryptionError):
        open_contact(sealed, ring, "sub-2")


def test_tampering_fails() -> None:
    ring = KeyRing.from_config(f"k1:{K1}")
    raw = bytearray(seal_contact(CONTACT, ring, "sub-1").to_bytes())
    raw[-1] ^= 1
    with pytest.raises(ContactDecryptionError):
        open_contact(SealedContact.from_bytes(bytes(raw)), ring, "sub-1")
    with pytest.raises(ContactDecryptionError):
        SealedContact.from_bytes(b"\x02rest")
    with pytest.raises(ContactDecryptionError):
        SealedContact.from_bytes(b"\x01\x02k1" + b"\x00" * 5)


def test_rotation() -> None:
    old_ring = KeyRing.from_config(f"k1:{K1}")
    sealed_old = seal_contact(CONTACT, old_ring, "sub-1")
    rotated = KeyRing.from_config(f"k2:{K2},k1:{K1}")
    assert rotated.current == "k2"
    assert open_contact(sealed_old, rotated, "sub-1") == CONTACT  # old data still readable
    assert needs_rekey(sealed_old, rotated)
    resealed = rekey(sealed_old, rotated, "sub-1")
    assert resealed.key_id == "k2" and not needs_rekey(resealed, rotated)
    only_new = KeyRing.from_config(f"k2:{K2}")
    assert open_contact(resealed, only_new, "sub-1") == CONTACT
    with pytest.raises(ContactDecryptionError, match="k1"):
        open_contact(sealed_old, only_new, "sub-1")


@pytest.mark.parametrize(
    "spec",
    ["", "nocolon", f"k1:{K1},k1:{K2}", "k1:!!!", "k1:" + base64.b64encode(b"x" * 16).decode(), f"bad id:{K1}"],
)
def test_bad_key_config(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        KeyRing.from_config(spec)
    assert K1 not in str(info.value) and K2 not in str(info.value)


def test_generated_key_is_usable() -> None:
    ring = KeyRing.from_config(f"fresh:{KeyRing.generate_key()}")
    assert open_contact(seal_contact(CONTACT, ring, "x"), ring, "x") == CONTACT


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("010-1234-5678", "010-****-5678"),
        ("01012345678", "010****5678"),
        ("02-123-4567", "02-***-4567"),
        ("+82 10 1234 5678", "+82 ** **** 5678"),
        ("123", "***"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_mask_email_and_name() -> None:
    assert mask_email("hong@example.com") == "h***@example.com"
    assert mask_email("broken") == "***"
    assert mask_name("김민수") == "김*수"
    assert mask_name("이수") == "이*"
    assert mask_name("남궁민수") == "남**수"
    assert mask_name("John Smith") == "J*** ****h"
    assert mask_name("김") == "*"


def test_mask_contact() -> None:
    view = mask_contact(CONTACT)
    assert view == {"name": "김*수", "phone": "010-****-5678", "email": "m***@example.com", "channel_user_id": "ka***"}


def test_retention() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    policy = RetentionPolicy(after_closed=timedelta(days=365), max_open=timedelta(days=1095))
    records = [
        ContactRecord("closed-long-ago", now - timedelta(days=800), closed_at=now - timedelta(days=400)),
        ContactRecord("closed-recently", now - timedelta(days=800), closed_at=now - timedelta(days=10)),
        ContactRecord("open-recent", now - timedelta(days=30)),
        ContactRecord("open-ancient", now - timedelta(days=1100)),
        ContactRecord("on-hold", now - timedelta(days=3000), closed_at=now - timedelta(days=2000), legal_hold=True),
        ContactRecord("exactly-due", now - timedelta(days=400), closed_at=now - timedelta(days=365)),
    ]
    assert past_retention(records, now, policy) == ["closed-long-ago", "open-ancient", "exactly-due"]
    closed_before, stored_before = purge_cutoffs(now, policy)
    assert closed_before == now - timedelta(days=365) and stored_before == now - timedelta(days=1095)
