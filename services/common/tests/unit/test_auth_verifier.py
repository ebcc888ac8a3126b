"""The token verifier (issue 10, item 7): canonical subjects, asymmetric keys from a JWKS file or URL, `iss` and
`aud`; and what the gRPC server lets through without a token (item 8: reflection).

Subject variants are generated from a few ids by the transformations an attacker (or a sloppy identity provider)
would use: case, surrounding and embedded whitespace, zero-width and other format characters, compatibility forms
(NFKC), decomposed Hangul and accents.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sotong_common import auth, config
from sotong_common.server import Server

SECRET = "s" * 32
BASES = ("alice", "kim.minsu", "operator-7", "김민수", "approver@seoul.go.kr", "josé")
SPACES = (" ", "\t", "\n", "\u00a0", "\u2003", "\u3000")
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066", "\u0000", "\u001b")


def variants(base: str) -> Iterator[str]:
    """Spellings of `base` that must never count as another person, nor be accepted as a subject."""
    yield base.upper()
    yield base.title()
    yield base[:1].upper() + base[1:]
    for space in SPACES:
        yield base + space
        yield space + base
    for mark in INVISIBLE:
        yield base + mark
        yield base[:2] + mark + base[2:]
    yield "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in base)  # full-width forms
    yield unicodedata.normalize("NFD", base)  # decomposed Hangul syllables, e + combining acute


def all_variants() -> list[tuple[str, str]]:
    return sorted({(base, v) for base in BASES for v in variants(base) if v != base})


def _claims(subject: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": subject, "roles": ["approver"], "iat": now, "exp": now + 600, "iss": "sotong", **extra}


# --- canonical subjects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", BASES)
def test_canonical_ids_are_accepted(base: str) -> None:
    assert auth.subject_problem(base) is None
    assert auth.verify(SECRET, auth.issue(SECRET, base, ["approver"])).subject == base


@pytest.mark.parametrize(("base", "variant"), all_variants())
def test_every_other_spelling_is_refused_and_compares_equal_to_its_canonical_id(base: str, variant: str) -> None:
    assert auth.subject_problem(variant) is not None
    token = jwt.encode(_claims(variant), SECRET, "HS256")
    with pytest.raises(auth.AuthError, match="canonical") as refused:
        auth.TokenVerifier.shared_secret(SECRET).verify(token)
    assert not refused.value.permission
    with pytest.raises(ValueError):
        auth.issue(SECRET, variant, ["approver"])
    if "\u0000" not in variant and "\u001b" not in variant:
        assert auth.same_subject(variant, base), (variant, auth.canonical_subject(variant))


def test_distinct_people_stay_distinct() -> None:
    for a in BASES:
        for b in BASES:
            assert auth.same_subject(a, b) is (a == b)


# --- asymmetric keys --------------------------------------------------------------------------------------------


def _rsa() -> tuple[Any, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return key, jwk


def _ed25519() -> tuple[Any, dict[str, Any]]:
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return key, jwk


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[Any, dict[str, Any], str]]:
    rsa_key, rsa_jwk = _rsa()
    ed_key, ed_jwk = _ed25519()
    return {
        "rs-1": (rsa_key, {**rsa_jwk, "kid": "rs-1", "use": "sig"}, "RS256"),
        "ed-1": (ed_key, {**ed_jwk, "kid": "ed-1"}, "EdDSA"),
    }


def _sign(key: Any, kid: str, algorithm: str, **claims: Any) -> str:
    return jwt.encode({**_claims("alice"), **claims}, key, algorithm=algorithm, headers={"kid": kid})


def _jwks_file(tmp_path: Path, *jwks: dict[str, Any]) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": list(jwks)}))
    return str(path)


@pytest.mark.parametrize("kid", ["rs-1", "ed-1"])
def test_rs256_and_eddsa_tokens_verify_with_public_keys_from_a_file(
    kid: str, keys: dict[str, tuple[Any, dict[str, Any], str]], tmp_path: Path
) -> None:
    source = _jwks_file(tmp_path, *(jwk for _, jwk, _ in keys.values()))
    verifier = auth.TokenVerifier.jwks(source, issuer="sotong")
    key, _, algorithm = keys[kid]
    assert verifier.verify(_sign(key, kid, algorithm)) == auth.Principal("alice", frozenset({"approver"}))


def test_what_a_key_set_verifier_refuses(keys: dict[str, tuple[Any, dict[str, Any], str]], tmp_path: Path) -> None:
    rsa_key, rsa_jwk, _ = keys["rs-1"]
    verifier = auth.TokenVerifier.jwks(_jwks_file(tmp_path, rsa_jwk), issuer="https://id.seoul.go.kr")
    good = {"iss": "https://id.seoul.go.kr"}
    assert verifier.verify(_sign(rsa_key, "rs-1", "RS256", **good)).subject == "alice"
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    refused = {
        "the dev secret (HS256)": jwt.encode({**_claims("alice"), **good}, SECRET, "HS256", headers={"kid": "rs-1"}),
        "HS256 keyed with the public key": jwt.encode(
            {**_claims("alice"), **good}, public_pem.decode()[:64], "HS256", headers={"kid": "rs-1"}
        ),
        "alg none": jwt.encode({**_claims("alice"), **good}, "", "none", headers={"kid": "rs-1"}),
        "another issuer": _sign(rsa_key, "rs-1", "RS256", iss="sotong"),
        "no issuer": jwt.encode(
            {k: v for k, v in _claims("alice").items() if k != "iss"}, rsa_key, "RS256", headers={"kid": "rs-1"}
        ),
        "an unknown key id": _sign(rsa_key, "rs-9", "RS256", **good),
        "a key not in the set": _sign(_rsa()[0], "rs-1", "RS256", **good),
        "expired": _sign(rsa_key, "rs-1", "RS256", exp=int(time.time()) - 60, **good),
        "a non-canonical subject": _sign(rsa_key, "rs-1", "RS256", sub="Alice", **good),
    }
    for why, token in refused.items():
        with pytest.raises(auth.AuthError):
            verifier.verify(token)
            pytest.fail(f"accepted a token with {why}")


def test_audience_is_checked_where_configured(keys: dict[str, tuple[Any, dict[str, Any], str]], tmp_path: Path) -> None:
    ed_key, ed_jwk, _ = keys["ed-1"]
    verifier = auth.TokenVerifier.jwks(_jwks_file(tmp_path, ed_jwk), issuer="sotong", audience="sotong-alerting")
    assert verifier.verify(_sign(ed_key, "ed-1", "EdDSA", aud="sotong-alerting")).subject == "alice"
    assert verifier.verify(_sign(ed_key, "ed-1", "EdDSA", aud=["sotong-intake", "sotong-alerting"])).subject
    for audience in ("sotong-intake", None):
        token = _sign(ed_key, "ed-1", "EdDSA") if audience is None else _sign(ed_key, "ed-1", "EdDSA", aud=audience)
        with pytest.raises(auth.AuthError):
            verifier.verify(token)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda jwk, key: {**jwk, **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))}, "private key material"),
        (lambda jwk, key: {"kty": "oct", "k": "c2VjcmV0", "kid": "hs"}, "symmetric"),
        (lambda jwk, key: {k: v for k, v in jwk.items() if k != "kid"}, "kid"),
    ],
)
def test_a_key_set_a_service_must_not_hold_stops_it_at_start(
    change: Any, message: str, keys: dict[str, tuple[Any, dict[str, Any], str]], tmp_path: Path
) -> None:
    rsa_key, rsa_jwk, _ = keys["rs-1"]
    with pytest.raises(ValueError, match=message):
        auth.TokenVerifier.jwks(_jwks_file(tmp_path, change(rsa_jwk, rsa_key)), issuer="sotong")


def test_a_rotated_key_set_is_picked_up_and_a_withdrawn_key_stops_verifying(
    keys: dict[str, tuple[Any, dict[str, Any], str]], tmp_path: Path
) -> None:
    rsa_key, rsa_jwk, _ = keys["rs-1"]
    ed_key, ed_jwk, _ = keys["ed-1"]
    source = _jwks_file(tmp_path, rsa_jwk)
    key_set = auth.Jwks(auth.jwks_loader(source))
    verifier = auth.TokenVerifier(key_set, issuer="sotong")
    old = _sign(rsa_key, "rs-1", "RS256")
    new = _sign(ed_key, "ed-1", "EdDSA")
    assert verifier.verify(old).subject == "alice"
    with pytest.raises(auth.AuthError, match="unknown key id"):
        verifier.verify(new)
    _jwks_file(tmp_path, ed_jwk)  # the identity provider rotates: the old key is withdrawn
    key_set.reload()
    assert verifier.verify(new).subject == "alice"
    with pytest.raises(auth.AuthError):
        verifier.verify(old)  # it was cached as valid; the key-set change cleared the cache


def test_an_unknown_key_id_refreshes_the_set_in_the_background_at_most_so_often(
    keys: dict[str, tuple[Any, dict[str, Any], str]],
) -> None:
    rsa_key, rsa_jwk, _ = keys["rs-1"]
    loads: list[int] = []

    def load() -> dict[str, Any]:
        loads.append(1)
        return {"keys": [rsa_jwk]}

    now = [1000.0]
    key_set = auth.Jwks(load, min_refresh_s=30, refresh_s=300, clock=lambda: now[0])
    verifier = auth.TokenVerifier(key_set)
    for _ in range(20):
        with pytest.raises(auth.AuthError, match="unknown key id"):
            verifier.verify(_sign(rsa_key, f"guess-{_}", "RS256"))
    now[0] += 31
    with pytest.raises(auth.AuthError):
        verifier.verify(_sign(rsa_key, "guess-x", "RS256"))
    deadline = time.monotonic() + 5
    while len(loads) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(loads) == 2  # the first load, then one refresh for 21 unknown key ids 31 s apart


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        return


def test_a_key_set_is_read_from_a_url(keys: dict[str, tuple[Any, dict[str, Any], str]]) -> None:
    ed_key, ed_jwk, _ = keys["ed-1"]
    handler = type("Handler", (_JwksHandler,), {"body": json.dumps({"keys": [ed_jwk]}).encode()})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
        verifier = auth.TokenVerifier.from_settings(grpc_settings(SOTONG_JWT_JWKS=url, SOTONG_JWT_SECRET=SECRET))
        assert verifier.verify(_sign(ed_key, "ed-1", "EdDSA")).subject == "alice"
        with pytest.raises(auth.AuthError):
            verifier.verify(auth.issue(SECRET, "alice", ["approver"]))  # the dev secret no longer counts
    finally:
        server.shutdown()
    with pytest.raises(ValueError, match="https"):
        auth.jwks_loader("http://id.example.com/jwks.json")


def grpc_settings(**environ: str) -> config.GrpcSettings:
    return config.GrpcSettings.load(environ)


def test_a_grpc_process_needs_a_key_set_or_the_dev_secret() -> None:
    with pytest.raises(config.ConfigError, match="SOTONG_JWT_SECRET is required unless SOTONG_JWT_JWKS is set"):
        grpc_settings()


def test_from_settings_without_a_key_set_is_the_dev_secret() -> None:
    verifier = auth.TokenVerifier.from_settings(grpc_settings(SOTONG_JWT_SECRET=SECRET))
    assert verifier.algorithms == {"HS256"}
    assert verifier.verify(auth.issue(SECRET, "kim", ["citizen"])).subject == "kim"
    with pytest.raises(auth.AuthError):
        verifier.verify(auth.issue(SECRET, "kim", ["citizen"], issuer="someone-else"))


# --- what the server answers without a token --------------------------------------------------------------------


async def _reflection_answers(port: int, metadata: tuple[tuple[str, str], ...] = ()) -> grpc.StatusCode:
    """The status of a reflection call that writes no request (a write racing the server's refusal would fail on
    the client's side instead of showing the refusal); an accepted call ends OK when the client is done."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(metadata=metadata)
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
            await call.done_writing()
        code: grpc.StatusCode = await call.code()
        return code


async def _services(port: int, metadata: tuple[tuple[str, str], ...]) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(metadata=metadata)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.done_writing()
        return [s.name async for reply in call for s in reply.list_services_response.service]


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        return int(reply.status)


@pytest.mark.parametrize("reflection_open", [False, True])
async def test_reflection_needs_a_token_unless_opened_for_development(reflection_open: bool) -> None:
    server = Server("t", auth.Policy({}), SECRET, reflection_open=reflection_open)
    port = await server.start()
    try:
        bearer = (("authorization", "Bearer " + auth.issue(SECRET, "kim", ["citizen"])),)
        forged = (("authorization", "Bearer " + auth.issue("x" * 32, "kim", ["admin"])),)
        assert await _reflection_answers(port, bearer) == grpc.StatusCode.OK
        assert "grpc.health.v1.Health" in await _services(port, bearer)
        assert await _reflection_answers(port) == (
            grpc.StatusCode.OK if reflection_open else grpc.StatusCode.UNAUTHENTICATED
        )
        if not reflection_open:
            assert await _reflection_answers(port, forged) == grpc.StatusCode.UNAUTHENTICATED
        assert await _health(port) == health_pb2.HealthCheckResponse.SERVING  # probes carry no token
    finally:
        await server.stop()
