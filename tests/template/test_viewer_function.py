"""The CloudFront viewer-request function of template.yaml, run under Node.js.

The code is taken from the template (its ``!Sub`` resolved for the parameters,
as CloudFormation would) and called with CloudFront Functions' event shape
(``querystring`` as ``{name: {value, multiValue?}}``). What CloudFront makes of
the returned request (the cache key of the whitelisted parameters, in the
order given) is AWS's; what the function returns is tested here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from infra.rie import run
from smartthumb import client_hints
from smartthumb.request import IGNORED
from smartthumb.signing import canonical_query, query_pairs
from tests.unit.test_client_hints import DPR_TABLE, RULE_TABLE, WIDTH_TABLE

RUNNER = """
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
eval(input.code + '\\nglobalThis.handler = handler;');
process.stdout.write(JSON.stringify(input.events.map((e) => globalThis.handler(e))));
"""


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is missing: the viewer-function test runs CloudFront's JavaScript under Node.js")
    return path


def viewer_requests(template: dict[str, Any], requests: list[dict[str, Any]], **overrides: str) -> list[dict[str, Any]]:
    code = run.resolve(
        template, template["Resources"]["ViewerRequestFunction"]["Properties"]["FunctionCode"], overrides
    )
    events = [{"version": "1.0", "context": {"eventType": "viewer-request"}, "request": r} for r in requests]
    result = subprocess.run(
        [node(), "-e", RUNNER],
        input=json.dumps({"code": code, "events": events}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def request(uri: str, query: list[tuple[str, str]], accept: str = "image/webp,*/*") -> dict[str, Any]:
    querystring: dict[str, Any] = {}
    for name, value in query:
        if name in querystring:
            entry = querystring[name]
            entry.setdefault("multiValue", [{"value": entry["value"]}]).append({"value": value})
        else:
            querystring[name] = {"value": value}
    return {"method": "GET", "uri": uri, "querystring": querystring, "headers": {"accept": {"value": accept}}}


def pairs(querystring: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for name, entry in querystring.items():
        values = [v["value"] for v in entry["multiValue"]] if "multiValue" in entry else [entry["value"]]
        out.extend((name, v) for v in values)
    return out


def test_one_thumbnail_one_cache_key_whatever_the_order_and_case(template: dict[str, Any]) -> None:
    spellings = [
        [("id", "Photos/Cat.jpg"), ("w", "200"), ("h", "100"), ("c", "7")],
        [("c", "7"), ("h", "100"), ("id", "Photos/Cat.jpg"), ("w", "200")],
        [("W", "200"), ("ID", "Photos/Cat.jpg"), ("C", "7"), ("H", "100"), ("pid", "Api"), ("rs", "1")],
        [("rm", "2"), ("h", "100"), ("o", "4"), ("w", "200"), ("cdv", "x"), ("id", "Photos/Cat.jpg"), ("c", "7")],
    ]
    answers = viewer_requests(template, [request("/th", q) for q in spellings])
    keys = {json.dumps(list(a["querystring"].items())) for a in answers}
    assert len(keys) == 1
    (only,) = keys
    # Names sorted and lower-cased; values kept (an id is a case-sensitive S3 key).
    assert json.loads(only) == [
        ["c", {"value": "7"}],
        ["h", {"value": "100"}],
        ["id", {"value": "Photos/Cat.jpg"}],
        ["w", {"value": "200"}],
    ]


def test_the_ignored_bing_parameters_are_dropped(template: dict[str, Any]) -> None:
    query = [("id", "a.jpg"), *((name, "1") for name in sorted(IGNORED)), ("w", "10")]
    (answer,) = viewer_requests(template, [request("/th", query)])
    assert list(answer["querystring"]) == ["id", "w"]


def test_a_repeated_parameter_stays_repeated_so_the_function_still_refuses_it(template: dict[str, Any]) -> None:
    (answer,) = viewer_requests(template, [request("/th", [("w", "1"), ("id", "a.jpg"), ("W", "2")])])
    assert pairs(answer["querystring"]) == [("id", "a.jpg"), ("w", "1"), ("w", "2")]


def test_the_signature_survives_normalisation(template: dict[str, Any]) -> None:
    """The signed canonical form is sorted and ignores the Bing parameters: the function's
    changes leave it as it was, so a signed URL still verifies after CloudFront."""
    query = "pid=x&w=200&sig=abc&id=a%20b.jpg&exp=99&h=1"
    (answer,) = viewer_requests(template, [request("/th", query_pairs(query))])
    assert canonical_query(pairs(answer["querystring"])) == canonical_query(query_pairs(query))


def test_other_paths_keep_their_query(template: dict[str, Any]) -> None:
    query = [("smartcrops-aspect-ratios", "0.9"), ("api-version", "2023-10-01"), ("Features", "smartCrops")]
    (answer,) = viewer_requests(template, [request("/computervision/imageanalysis:analyze", query)])
    assert pairs(answer["querystring"]) == query


@pytest.mark.parametrize(
    ("accept", "normalised"),
    [
        # The rule of smartthumb/negotiation.py (tests/unit/test_negotiation.py runs its whole table here too).
        ("text/html,image/avif,image/webp,image/apng,*/*;q=0.8", "image/avif,image/webp"),
        ("image/webp,*/*", "image/webp"),
        ("image/webp;q=0,image/avif", "image/avif"),
        ("image/jpeg", "*/*"),
    ],
)
def test_accept_is_reduced_to_what_the_service_chooses_between(
    template: dict[str, Any], accept: str, normalised: str
) -> None:
    (answer,) = viewer_requests(template, [request("/th", [("id", "a.jpg")], accept)])
    assert answer["headers"]["accept"] == {"value": normalised}


def test_accept_is_left_alone_when_avif_and_webp_are_off(template: dict[str, Any]) -> None:
    accept = "text/html,image/webp,*/*;q=0.8"
    off = {"EnableWebp": "false", "EnableAvif": "false"}
    (answer,) = viewer_requests(template, [request("/th", [("id", "a.jpg")], accept)], **off)
    assert answer["headers"]["accept"] == {"value": accept}
    (answer,) = viewer_requests(template, [request("/th", [("id", "a.jpg")], accept)], EnableWebp="false")
    assert answer["headers"]["accept"] == {"value": "*/*"}  # AVIF still on: the decision is "no modern format"


def test_the_function_drops_exactly_what_th_ignores(template: dict[str, Any]) -> None:
    code = run.resolve(template, template["Resources"]["ViewerRequestFunction"]["Properties"]["FunctionCode"])
    dropped = [line for line in code.splitlines() if line.startswith("var IGNORED")]
    assert len(dropped) == 1
    names = {item.split(":")[0].strip(" {") for item in dropped[0].split("=", 1)[1].rstrip(" };").split(",")}
    assert names == set(IGNORED)


# --- client hints (EnableClientHints): smartthumb/client_hints.py's rule and tables, under Node.js ----------


def _hinted(query: list[tuple[str, str]], dpr: str | None, width: str | None) -> dict[str, Any]:
    r = request("/th", query)
    if dpr is not None:
        r["headers"]["sec-ch-dpr"] = {"value": dpr}
    if width is not None:
        r["headers"]["sec-ch-width"] = {"value": width}
    return r


def _kept(answer: dict[str, Any]) -> tuple[str | None, str | None]:
    headers = answer["headers"]
    return (headers.get("sec-ch-dpr", {}).get("value"), headers.get("sec-ch-width", {}).get("value"))


def test_the_function_rounds_hints_with_the_services_tables(template: dict[str, Any]) -> None:
    code = run.resolve(template, template["Resources"]["ViewerRequestFunction"]["Properties"]["FunctionCode"])
    lines = {line.split("=")[0].split()[1]: line for line in code.splitlines() if line.startswith("var ")}
    assert json.loads(lines["DPR_STEPS"].split("=", 1)[1].strip(" ;")) == list(client_hints.DPR_STEPS)
    assert json.loads(lines["WIDTH_STEPS"].split("=", 1)[1].strip(" ;")) == list(client_hints.WIDTH_STEPS)

    with_w = [("id", "a.jpg"), ("w", "200")]
    bare = [("id", "a.jpg")]
    cases = [_hinted(with_w, raw, None) for raw in DPR_TABLE] + [_hinted(bare, None, raw) for raw in WIDTH_TABLE]
    answers = viewer_requests(template, cases, EnableClientHints="true")
    got_dpr = [_kept(a)[0] for a in answers[: len(DPR_TABLE)]]
    got_width = [_kept(a)[1] for a in answers[len(DPR_TABLE) :]]
    assert got_dpr == [None if v == "1" else v for v in DPR_TABLE.values()]
    assert got_width == list(WIDTH_TABLE.values())


def test_the_function_keeps_only_the_hint_the_service_reads(template: dict[str, Any]) -> None:
    cases = [_hinted([(n, "1") for n in names], dpr, width) for names, dpr, width, _ in RULE_TABLE]
    answers = viewer_requests(template, cases, EnableClientHints="true")
    for answer, (names, dpr, width, expected) in zip(answers, RULE_TABLE, strict=True):
        assert _kept(answer) == (expected.dpr, expected.width), (names, dpr, width)
        python = client_hints.normalise(dict.fromkeys(names, "1"), dpr, width)
        assert _kept(answer) == (python.dpr, python.width)


def test_hints_are_left_alone_when_off(template: dict[str, Any]) -> None:
    """Off (the default), the cache policy does not forward them, and the function does not touch them."""
    (answer,) = viewer_requests(template, [_hinted([("id", "a.jpg"), ("w", "200")], "2.625", "901")])
    assert _kept(answer) == ("2.625", "901")
    (answer,) = viewer_requests(
        template, [_hinted([("id", "a.jpg"), ("w", "200")], "2.625", "901")], EnableClientHints="false"
    )
    assert _kept(answer) == ("2.625", "901")


def test_hints_do_not_touch_other_paths(template: dict[str, Any]) -> None:
    r = _hinted([("id", "a.jpg")], "2", "900")
    r["uri"] = "/analysis"
    (answer,) = viewer_requests(template, [r], EnableClientHints="true")
    assert _kept(answer) == ("2", "900")
