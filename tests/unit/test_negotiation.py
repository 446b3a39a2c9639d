"""Content negotiation: the Accept table, and the CloudFront normaliser under Node.js giving the same answers."""

from __future__ import annotations

import json
import shutil
import subprocess
from itertools import product
from pathlib import Path

import pytest

from infra.rie import run
from smartthumb.negotiation import (
    AVIF,
    GIF,
    JPEG,
    PNG,
    WEBP,
    FormatSwitches,
    accepted_modern,
    choose_format,
    explicit_q,
    normalise_accept,
)

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_16 = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
OLD_SAFARI = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"

#: Accept -> the modern formats it accepts (before the switches): the heart of the table.
ACCEPTS: dict[str | None, tuple[str, ...]] = {
    None: (),
    "": (),
    "*/*": (),
    "image/*": (),
    "image/*,*/*;q=0.8": (),
    OLD_SAFARI: (),
    CHROME: (AVIF, WEBP),
    FIREFOX: (AVIF, WEBP),
    SAFARI_16: (AVIF, WEBP),
    "image/webp": (WEBP,),
    "image/avif": (AVIF,),
    "IMAGE/AVIF": (AVIF,),
    "image/webp;q=0.5": (WEBP,),
    "image/webp;q=0": (),
    "image/webp; q=0.000": (),
    "image/webp;Q=0": (),
    "image/webp ;q=0": (),
    "image/avif;q=0,image/webp": (WEBP,),
    "image/avif;q=0,image/*": (),
    "image/avif;q=0.001,*/*;q=0": (AVIF,),
    "image/avif,image/webp;q=0,*/*": (AVIF,),
    "image/webp;q=0,image/avif;q=0,*/*;q=1": (),
    "image/*;q=0,image/webp": (WEBP,),
    "image/webp;q=abc": (),
    "image/webp;q=1.5": (),
    "image/webp;q=1e0": (),
    "image/webp;q=NaN": (),
    "image/webp;q=": (),
    "image/webp;q": (),
    "image/webp;q=1.000": (WEBP,),
    "image/webp;q=0.9;q=0": (),
    "image/webp;level=1": (WEBP,),
    "image/webp;q=0,image/webp;q=0.5": (WEBP,),
    "image/webpx,image/avi": (),
    "text/html,application/xhtml+xml": (),
    "\timage/avif\t;\tq=0.5\t": (AVIF,),
    ",,image/avif,,": (AVIF,),
    "image/avif;q=0.0001": (),
}

SWITCHES = [FormatSwitches(avif=a, webp=w) for a, w in product((True, False), repeat=2)]


def expected_format(modern: tuple[str, ...], switches: FormatSwitches, alpha: bool, animated: bool) -> str:
    """The rule, stated case by case (independently of the module's code path)."""
    avif_ok = AVIF in modern and switches.avif
    webp_ok = WEBP in modern and switches.webp
    if animated:
        return WEBP if webp_ok else GIF
    if avif_ok:
        return AVIF
    if webp_ok:
        return WEBP
    return PNG if alpha else JPEG


TABLE = [
    (accept, switches, alpha, animated)
    for accept, switches, alpha, animated in product(ACCEPTS, SWITCHES, (False, True), (False, True))
]


@pytest.mark.parametrize(("accept", "switches", "alpha", "animated"), TABLE)
def test_negotiation_table(accept: str | None, switches: FormatSwitches, alpha: bool, animated: bool) -> None:
    expected = expected_format(ACCEPTS[accept], switches, alpha, animated)
    assert choose_format(accept, switches, alpha=alpha, animated=animated) == expected
    # The normalised Accept (the cache key's) leads to the same answer.
    normalised = normalise_accept(accept, switches)
    assert choose_format(normalised, switches, alpha=alpha, animated=animated) == expected


def test_normalised_accept_has_at_most_four_values() -> None:
    values = {normalise_accept(a, s) for a in ACCEPTS for s in SWITCHES}
    assert values == {"image/avif,image/webp", "image/avif", "image/webp", "*/*"}
    assert normalise_accept(CHROME, FormatSwitches(avif=False, webp=True)) == "image/webp"
    assert normalise_accept(CHROME, FormatSwitches(avif=False, webp=False)) == "*/*"


def test_explicit_q_only_counts_the_named_type() -> None:
    assert explicit_q("image/*;q=0.8,*/*", "image/webp") is None
    assert explicit_q("image/webp;q=0.25", "image/webp") == 0.25
    assert explicit_q(None, "image/webp") is None
    assert accepted_modern("image/webp,image/avif", FormatSwitches()) == (AVIF, WEBP)  # service's order


def test_vary_only_when_a_modern_format_is_on() -> None:
    assert FormatSwitches(avif=True, webp=False).varies
    assert FormatSwitches(avif=False, webp=True).varies
    assert not FormatSwitches(avif=False, webp=False).varies


# ---------------------------------------------------------------- the CloudFront function


def cloudfront_function_code(avif: bool, webp: bool) -> str:
    """The viewer-request function's code from template.yaml (the one defining ``normaliseAccept``),
    with the template parameters substituted as CloudFormation would."""
    template = run.load_template(run.REPO / "template.yaml")
    codes = [
        res["Properties"]["FunctionCode"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::CloudFront::Function"
        and "function normaliseAccept(" in json.dumps(res["Properties"]["FunctionCode"])
    ]
    assert len(codes) == 1, "exactly one CloudFront function defines normaliseAccept"
    overrides = {"EnableAvif": str(avif).lower(), "EnableWebp": str(webp).lower()}
    text = run.resolve(template, codes[0], overrides)
    assert isinstance(text, str) and "${" not in text, "an unsubstituted parameter is left in the function code"
    return text


HARNESS = """
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(function (accept) {
  const headers = accept === null ? {} : { accept: { value: accept } };
  const request = { method: 'GET', uri: '/th', querystring: { id: { value: 'a.jpg' } }, headers: headers, cookies: {} };
  const event = { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '127.0.0.1' } };
  event.request = request;
  const result = handler(event);
  return result.headers.accept ? result.headers.accept.value : null;
});
process.stdout.write(JSON.stringify(out));
"""


def run_cloudfront_normaliser(avif: bool, webp: bool, accepts: list[str | None], tmp_path: Path) -> list[str | None]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js 18+) is needed to run the CloudFront function's code")
    script = tmp_path / f"accept_{avif}_{webp}.js"
    script.write_text(cloudfront_function_code(avif, webp) + "\n" + HARNESS)
    proc = subprocess.run(
        [node, str(script)], input=json.dumps(accepts), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: f"avif={s.avif},webp={s.webp}")
def test_cloudfront_normaliser_agrees_with_the_service(switches: FormatSwitches, tmp_path: Path) -> None:
    accepts = list(ACCEPTS)
    got = run_cloudfront_normaliser(switches.avif, switches.webp, accepts, tmp_path)
    for accept, normalised in zip(accepts, got, strict=True):
        if not switches.varies:
            # Both off: Accept is not in the cache key and the function leaves it alone.
            assert normalised == accept, f"Accept {accept!r}"
        else:
            assert normalised == normalise_accept(accept, switches), f"Accept {accept!r}"
        for alpha, animated in product((False, True), repeat=2):
            assert choose_format(normalised, switches, alpha=alpha, animated=animated) == expected_format(
                ACCEPTS[accept], switches, alpha, animated
            ), f"Accept {accept!r}"
