"""Signed URLs: the scheme, the documented example, the /th check, the secret sources, the CLI."""

from __future__ import annotations

import re
import time

import boto3
import pytest

from smartthumb import signing
from smartthumb.cli import main as cli_main
from smartthumb.errors import Forbidden
from smartthumb.signing import (
    SignatureVerifier,
    canonical_query,
    compute_signature,
    query_pairs,
    sign_query,
)
from tests.conftest import REPO
from tests.hardening.conftest import error_of

SECRET = "test-signing-secret"
DOC_SECRET = "example-secret-do-not-use"
DOC_QUERY = "w=200&id=photos/cat+1.jpg&h=200&c=7&pid=Api&exp=1900000000"
DOC_CANONICAL = "c=7&exp=1900000000&h=200&id=photos%2Fcat%201.jpg&w=200"
DOC_SIG = "ho3eXt2aov4wLQ02gmamOggwMtI0jKiER8nFA3hrna8"


def test_documented_worked_example() -> None:
    pairs = query_pairs(DOC_QUERY)
    assert canonical_query(pairs) == DOC_CANONICAL
    assert compute_signature(DOC_SECRET, pairs) == DOC_SIG
    doc = (REPO / "infra" / "SIGNING.md").read_text()
    for text in (DOC_SECRET, DOC_QUERY, DOC_CANONICAL, DOC_SIG):
        assert text in doc


def test_signature_is_order_and_spelling_independent_and_ignores_bing_extras() -> None:
    base = compute_signature(SECRET, query_pairs("id=a b.jpg&w=100&h=50"))
    assert compute_signature(SECRET, query_pairs("h=50&w=100&id=a+b.jpg")) == base
    assert compute_signature(SECRET, query_pairs("h=50&id=a%20b.jpg&w=100&pid=Api&rs=1&cdv=x&o=5&rm=2")) == base
    assert compute_signature(SECRET, query_pairs("h=50&id=a%20b.jpg&w=100&sig=whatever")) == base
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", base)


@pytest.mark.parametrize(
    "tampered",
    [
        "id=a b.jpg&w=101&h=50",
        "id=a b.jpgx&w=100&h=50",
        "id=a b.jpg&w=100&h=50&c=4",
        "id=a b.jpg&w=100",
        "id=a b.jpg&w=100&h=50&exp=1",
        "id=a b.jpg&w=100&h=50&qlt=",
        "id=a b.jpg&w=100&h=50&w=100",
    ],
)
def test_any_meaningful_change_changes_the_signature(tampered: str) -> None:
    assert compute_signature(SECRET, query_pairs(tampered)) != compute_signature(
        SECRET, query_pairs("id=a b.jpg&w=100&h=50")
    )


def test_key_matters() -> None:
    pairs = query_pairs("id=a&w=1")
    assert compute_signature("k1", pairs) != compute_signature("k2", pairs)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = signing.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    verifier = SignatureVerifier(lambda: SECRET)
    verifier.verify(query_pairs(sign_query(SECRET, "id=a&w=1")))
    with pytest.raises(Forbidden):
        verifier.verify(query_pairs("id=a&w=1&sig=" + "A" * 43))
    assert len(calls) == 2


def test_expiry_uses_the_clock() -> None:
    query = sign_query(SECRET, "id=a&w=1", expires_at=1000)
    SignatureVerifier(lambda: SECRET, clock=lambda: 999.0).verify(query_pairs(query))
    with pytest.raises(Forbidden, match="expired"):
        SignatureVerifier(lambda: SECRET, clock=lambda: 1000.0).verify(query_pairs(query))


# ------------------------------------------------------------------ through /th


def test_off_by_default_unsigned_requests_render(make_fn) -> None:
    fn = make_fn()
    assert fn.get("/th?id=photo.jpg&w=100")["statusCode"] == 200
    # sig/exp are tolerated and not enforced while signing is off.
    assert fn.get("/th?id=photo.jpg&w=100&sig=nonsense&exp=1")["statusCode"] == 200


def test_on_valid_signature_renders(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    signed = sign_query(SECRET, "id=photo.jpg&w=100&h=100&c=4")
    result = fn.get(f"/th?{signed}")
    assert result["statusCode"] == 200, result["body"]
    # Reordered, re-spelled and with Bing's ignored extras added: still valid.
    pairs = query_pairs(signed)
    reordered = "&".join(f"{k}={v}" for k, v in reversed(pairs)) + "&pid=Api&rs=1"
    assert fn.get(f"/th?{reordered}")["statusCode"] == 200


@pytest.mark.parametrize(
    "query",
    [
        "id=photo.jpg&w=100",  # unsigned
        "id=photo.jpg&w=100&sig=",  # empty
        "id=photo.jpg&w=100&sig=" + "A" * 43,  # forged
        "id=photo.jpg&w=100&sig=short",  # malformed
        "id=photo.jpg&w=99999&h=-1",  # unsigned and invalid: 403 first, not 400
        "id=../../etc/passwd",  # unsigned path trick: 403 first
    ],
)
def test_on_unsigned_or_forged_is_403(make_fn, query: str) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    result = fn.get(f"/th?{query}")
    assert result["statusCode"] == 403
    assert error_of(result)["code"] == "Forbidden"


def test_on_tampered_after_signing_is_403(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    signed = sign_query(SECRET, "id=photo.jpg&w=100")
    assert fn.get(f"/th?{signed}")["statusCode"] == 200
    assert fn.get("/th?" + signed.replace("w=100", "w=4000"))["statusCode"] == 403
    assert fn.get("/th?" + signed + "&h=4000")["statusCode"] == 403
    assert fn.get("/th?" + signed + "&sig=" + signed.rsplit("sig=", 1)[1])["statusCode"] == 403  # repeated sig


def test_on_expiry(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    now = int(time.time())
    fresh = sign_query(SECRET, "id=photo.jpg&w=100", expires_at=now + 600)
    assert fn.get(f"/th?{fresh}")["statusCode"] == 200
    stale = sign_query(SECRET, "id=photo.jpg&w=100", expires_at=now - 1)
    result = fn.get(f"/th?{stale}")
    assert result["statusCode"] == 403 and "expired" in error_of(result)["message"]
    # Moving exp forward without re-signing is tampering.
    assert fn.get("/th?" + stale.replace(f"exp={now - 1}", f"exp={now + 600}"))["statusCode"] == 403
    bad = "id=photo.jpg&w=100&exp=soon&sig=" + compute_signature(SECRET, query_pairs("id=photo.jpg&w=100&exp=soon"))
    assert fn.get(f"/th?{bad}")["statusCode"] == 403


@pytest.mark.slow
def test_secret_from_ssm_is_read_once(make_fn) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/smartthumb/signing", Value=SECRET, Type="SecureString")
    fn = make_fn(SIGNING_SECRET_PARAMETER="/smartthumb/signing")
    signed = sign_query(SECRET, "id=photo.jpg&w=100")
    assert fn.get("/th?id=photo.jpg&w=100")["statusCode"] == 403
    assert fn.get(f"/th?{signed}")["statusCode"] == 200
    # Cached for the container: a changed parameter is not re-read per request.
    ssm.put_parameter(Name="/smartthumb/signing", Value="rotated", Type="SecureString", Overwrite=True)
    assert fn.get(f"/th?{signed}")["statusCode"] == 200


def test_secret_from_secrets_manager(make_fn) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="smartthumb-signing", SecretString=SECRET)["ARN"]
    fn = make_fn(SIGNING_SECRET_ARN=arn)
    assert fn.get("/th?" + sign_query(SECRET, "id=photo.jpg&w=100"))["statusCode"] == 200
    assert fn.get("/th?" + sign_query("other", "id=photo.jpg&w=100"))["statusCode"] == 403


def test_unreadable_secret_fails_closed_with_503(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET_PARAMETER="/does/not/exist")
    # Without any sig there is nothing to check: refused without the key.
    assert fn.get("/th?id=photo.jpg&w=100")["statusCode"] == 403
    result = fn.get("/th?" + sign_query(SECRET, "id=photo.jpg&w=100"))
    assert result["statusCode"] == 503
    assert error_of(result)["code"] == "SigningUnavailable"
    assert "/does/not/exist" not in result["body"]
    assert result["headers"].get("Retry-After")


# ------------------------------------------------------------------------- CLI


def test_cli_sign_prints_a_url_the_service_accepts(make_fn, monkeypatch, capsys) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    assert cli_main(["sign", "id=photo.jpg&w=120&h=80&c=4", "--base", "https://cdn.example/", "--expires", "300"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://cdn.example/th?id=photo.jpg&w=120&h=80&c=4&exp=")
    exp = int(re.search(r"exp=(\d+)", url).group(1))
    assert abs(exp - (time.time() + 300)) < 30
    result = fn.get(url.removeprefix("https://cdn.example"))
    assert result["statusCode"] == 200


def test_cli_sign_refuses_without_secret_or_with_a_bad_query(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SIGNING_SECRET", raising=False)
    monkeypatch.delenv("SIGNING_SECRET_PARAMETER", raising=False)
    monkeypatch.delenv("SIGNING_SECRET_ARN", raising=False)
    assert cli_main(["sign", "id=a.jpg&w=10"]) == 2
    monkeypatch.setenv("SIGNING_SECRET", SECRET)
    assert cli_main(["sign", "id=a.jpg&w=0"]) == 1
    err = capsys.readouterr().err
    assert "'w'" in err and SECRET not in err


def test_template_variable_takes_an_ssm_name_or_a_secret_arn(make_fn) -> None:
    """template.yaml passes one SIGNING_SECRET_PARAM: an SSM name or a Secrets Manager ARN."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/smartthumb/key", Value=SECRET, Type="SecureString")
    fn = make_fn(SIGNING_SECRET_PARAM="/smartthumb/key")
    assert fn.get("/th?id=photo.jpg&w=100")["statusCode"] == 403
    assert fn.get("/th?" + sign_query(SECRET, "id=photo.jpg&w=100"))["statusCode"] == 200

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="smartthumb-key", SecretString="another-secret")["ARN"]
    fn = make_fn(SIGNING_SECRET_PARAM=arn)
    assert fn.get("/th?" + sign_query(SECRET, "id=photo.jpg&w=100"))["statusCode"] == 403
    assert fn.get("/th?" + sign_query("another-secret", "id=photo.jpg&w=100"))["statusCode"] == 200


# ----------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.sampled_from(["id", "w", "h", "c", "p", "qlt", "dpr", "pcl", "exp", "pid", "rs", "x", "é", "a b", "&", "="])
_VALUES = st.one_of(st.text(max_size=12), st.integers(0, 10**12).map(str))


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8), st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_signed_queries_verify_in_any_order_and_any_change_breaks_them(pairs, rnd) -> None:
    from urllib.parse import urlencode

    exps = [v for k, v in pairs if k == "exp"]
    if len(exps) > 1 or any(not (v.isascii() and v.isdigit() and len(v) <= 12) for v in exps):
        with pytest.raises(ValueError):  # a URL the verifier would refuse is never signed
            sign_query(SECRET, urlencode(pairs))
        return
    signed = sign_query(SECRET, urlencode(pairs))
    verifier = SignatureVerifier(lambda: SECRET, clock=lambda: -1.0)
    decoded = query_pairs(signed)
    verifier.verify(decoded)
    shuffled = list(decoded)
    rnd.shuffle(shuffled)
    verifier.verify(shuffled)
    meaningful = [i for i, (k, _) in enumerate(decoded) if k not in ("sig", "pid", "rs", "cdv", "o", "rm")]
    if meaningful:
        i = rnd.choice(meaningful)
        name, value = decoded[i]
        tampered = [*decoded[:i], (name, value + "x"), *decoded[i + 1 :]]
        with pytest.raises(Forbidden):
            verifier.verify(tampered)
