"""Standard Webhooks verification: what is accepted, and the reason for everything refused."""

from __future__ import annotations

import base64

import pytest

from sotong_common.webhooks import (
    Reason,
    WebhookVerificationError,
    WebhookVerifier,
    new_secret,
    parse_secret,
    sign,
    signed_headers,
)

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
NOW = 1_764_000_000
BODY = b'{"kind":"report","text":"\xea\xb0\x80\xeb\x82\x98\xeb\x8b\xa4"}'


def headers(secret: str = NEW, msg_id: str = "msg_2Kq", ts: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def reason_of(verifier: WebhookVerifier, hdrs: dict[str, str], body: bytes = BODY, **kw: object) -> Reason:
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(hdrs, body, now=NOW, **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_known_vector_from_the_standard() -> None:
    # The example in the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_valid_delivery() -> None:
    verified = WebhookVerifier([NEW]).verify(headers(), BODY, now=NOW)
    assert verified.id == "msg_2Kq" and verified.timestamp == NOW and verified.body == BODY


def test_header_names_are_case_insensitive() -> None:
    hdrs = {k.title(): v for k, v in headers().items()}
    assert WebhookVerifier([NEW]).verify(hdrs, BODY, now=NOW).id == "msg_2Kq"


def test_tampered_body_or_wrong_secret_fails() -> None:
    verifier = WebhookVerifier([NEW])
    assert reason_of(verifier, headers(), body=BODY + b" ") == Reason.SIGNATURE_MISMATCH
    assert reason_of(verifier, headers(secret=OLD)) == Reason.SIGNATURE_MISMATCH
    forged = headers()
    forged["webhook-id"] = "msg_other"  # signature was for another id
    assert reason_of(verifier, forged) == Reason.SIGNATURE_MISMATCH


def test_timestamp_window() -> None:
    verifier = WebhookVerifier([NEW])
    assert verifier.verify(headers(ts=NOW - 299), BODY, now=NOW)
    assert verifier.verify(headers(ts=NOW + 299), BODY, now=NOW)
    assert reason_of(verifier, headers(ts=NOW - 301)) == Reason.TIMESTAMP_TOO_OLD
    assert reason_of(verifier, headers(ts=NOW + 301)) == Reason.TIMESTAMP_IN_FUTURE
    bad = headers()
    bad["webhook-timestamp"] = "yesterday"
    assert reason_of(verifier, bad) == Reason.BAD_TIMESTAMP


def test_key_rotation_accepts_every_active_secret() -> None:
    rotating = WebhookVerifier([NEW, OLD])
    assert rotating.verify(headers(secret=OLD), BODY, now=NOW)
    assert rotating.verify(headers(secret=NEW), BODY, now=NOW)
    assert reason_of(WebhookVerifier([NEW]), headers(secret=OLD)) == Reason.SIGNATURE_MISMATCH


def test_multiple_signatures_any_may_match() -> None:
    hdrs = headers(secret=OLD)
    good = sign(NEW, "msg_2Kq", NOW, BODY)
    hdrs["webhook-signature"] = f"v1a,c29tZWFzeW1tZXRyaWM= {hdrs['webhook-signature']} {good}"
    assert WebhookVerifier([NEW]).verify(hdrs, BODY, now=NOW)
    hdrs["webhook-signature"] = "v1a,c29tZWFzeW1tZXRyaWM= v2,abc"
    assert reason_of(WebhookVerifier([NEW]), hdrs) == Reason.NO_SIGNATURE
    hdrs["webhook-signature"] = "v1,not*base64"
    assert reason_of(WebhookVerifier([NEW]), hdrs) == Reason.NO_SIGNATURE


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers(missing: str) -> None:
    hdrs = headers()
    del hdrs[missing]
    assert reason_of(WebhookVerifier([NEW]), hdrs) == Reason.MISSING_HEADER


def test_replay_check_uses_the_callers_memory() -> None:
    delivered: set[str] = set()
    verifier = WebhookVerifier([NEW])
    first = verifier.verify(headers(), BODY, now=NOW, seen=delivered.__contains__)
    delivered.add(first.id)
    assert reason_of(verifier, headers(), seen=delivered.__contains__) == Reason.REPLAYED


def test_replay_check_runs_after_the_signature() -> None:
    # An unsigned probe must not learn whether an id was seen.
    hdrs = headers(secret=OLD)
    assert reason_of(WebhookVerifier([NEW]), hdrs, seen=lambda _id: True) == Reason.SIGNATURE_MISMATCH


def test_secret_parsing() -> None:
    assert parse_secret(NEW) == b"n" * 32
    assert parse_secret(NEW.removeprefix("whsec_")) == b"n" * 32
    with pytest.raises(ValueError):
        parse_secret("whsec_***")
    with pytest.raises(ValueError):
        parse_secret("whsec_" + base64.b64encode(b"short").decode())
    with pytest.raises(ValueError):
        WebhookVerifier([])


def test_error_message_carries_the_reason() -> None:
    error = WebhookVerificationError(Reason.TIMESTAMP_TOO_OLD, "timestamp is 400 s old")
    assert str(error).startswith("timestamp_too_old")


def test_a_new_secret_is_24_random_bytes_and_signs_what_the_verifier_accepts() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(parse_secret(secret)) == 24
    assert new_secret() != secret
    with pytest.raises(ValueError):
        new_secret(16)
    hdrs = signed_headers([secret, NEW], "msg_1", NOW, BODY)
    assert len(hdrs["webhook-signature"].split()) == 2
    assert WebhookVerifier([secret]).verify(hdrs, BODY, now=NOW).id == "msg_1"
    assert WebhookVerifier([NEW]).verify(hdrs, BODY, now=NOW).id == "msg_1"


def test_a_sent_id_never_holds_a_dot() -> None:
    with pytest.raises(ValueError):
        signed_headers([NEW], "msg.1", NOW, BODY)
