"""The decode CPU budget (``MAX_DECODE_CPU_MS``, :mod:`smartthumb.structure.budget`).

A genuine 100 Mpx progressive JPEG passes the pixel and memory limits of the
AnalyzeFunction and costs 1.5-1.7 s of CPU to decode whatever ``draft`` does;
a 16-bit 100 Mpx PNG 2.5-2.8 s. The estimate from the header and the file
size refuses those with a 413 before decoding, and keeps camera photos.

The fast tests check the estimate and each door's answer with a tiny budget;
the slow one runs the genuine files (:mod:`tests.hardening.genuine`) through
every door in a child process under the function's memory and reports the
CPU the child measured (``resource.getrusage``) for each call.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from smartthumb import render, structure
from smartthumb.config import Settings
from smartthumb.errors import SourceTooLarge
from smartthumb.local_server import http_api_event
from tests.conftest import EVENTS, FakeLambdaContext
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer, with_ingest_analyzer
from tests.hardening import floods, genuine
from tests.hardening.conftest import two_buckets
from tests.hardening.test_capped_memory import ANALYZE_MB, THUMBNAIL_MB, run_capped

MIB = 2**20
DEFAULT = Settings().max_decode_cpu_ms
#: What the issue asks of every class: answered within 2 s of CPU -- on the machine the budget
#: was fitted on, where the analysis decode of the progressive 4:4:4 24 Mpx JPEG took
#: CALIBRATION_MS (infra/HARDENING.md). Machines differ (a later one ran the same calls about
#: twice as slow), so the bound scales by that decode measured here, in the same run.
CPU_BOUND_MS = 2000
CALIBRATION_FILE = "prog-444-24mpx.jpg"
CALIBRATION_MS = 400.0


def _facts(data: bytes) -> structure.Facts:
    return structure.scan(data, 100)


def _ihdr(side: int, bits: int, colour: int, interlaced: bool) -> bytes:
    import struct

    ihdr = struct.pack(">IIBBBBB", side, side, bits, colour, 0, 0, 1 if interlaced else 0)
    return b"\x89PNG\r\n\x1a\n" + genuine._chunk(b"IHDR", ihdr) + genuine._chunk(b"IEND", b"")


# (header, file size of the genuine file measured, refused at the default budget)
ESTIMATES = {
    "progressive 4:4:4 100 Mpx, 29 MiB": (floods.progressive_jpeg("RGB"), 29.3 * MIB, True),
    "progressive CMYK 100 Mpx, 23 MiB": (floods.progressive_jpeg("CMYK"), 22.8 * MIB, True),
    "16-bit RGBA PNG 100 Mpx": (_ihdr(10_000, 16, 6, False), 0.7 * MIB, True),
    "interlaced RGB PNG 100 Mpx": (_ihdr(10_000, 8, 2, True), 0.3 * MIB, True),
    "progressive 4:2:0 24 Mpx, 4.2 MiB": (floods.progressive_jpeg("RGB", 4899, subsampling=2), 4.2 * MIB, False),
    "progressive 4:4:4 24 Mpx, 7 MiB": (floods.progressive_jpeg("RGB", 4899), 7.0 * MIB, False),
    "progressive 4:2:0 48 Mpx, 8.4 MiB": (floods.progressive_jpeg("RGB", 6928, subsampling=2), 8.4 * MIB, False),
    "progressive 4:4:4 48 Mpx, 14 MiB": (floods.progressive_jpeg("RGB", 6928), 14.0 * MIB, False),
    "baseline 4:2:0 50 Mpx, 10 MiB": (floods._patch_sof(floods._small_jpeg("RGB"), 7071, 7071), 10.1 * MIB, False),
    "8-bit RGB PNG 100 Mpx (libspng strips)": (_ihdr(10_000, 8, 2, False), 0.3 * MIB, False),
}


@pytest.mark.parametrize("name", list(ESTIMATES))
def test_the_estimate_refuses_the_costly_classes_and_keeps_photos(name: str) -> None:
    header, size, refused = ESTIMATES[name]
    facts = _facts(header)
    estimate = structure.decode_cpu_ms(facts, int(size))
    assert (estimate > DEFAULT) is refused, (name, estimate)
    if refused:
        with pytest.raises(SourceTooLarge, match="MAX_DECODE_CPU_MS"):
            structure.check_cpu(facts, int(size), Settings())
    else:
        structure.check_cpu(facts, int(size), Settings())
    assert structure.check_cpu(facts, int(size), Settings(max_decode_cpu_ms=0)) is None  # 0: off


def small_progressive() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((1200, 900), 40).convert("RGB").save(out, "JPEG", quality=80, progressive=True)
    return out.getvalue()


def test_open_image_refuses_before_decoding() -> None:
    data = small_progressive()
    estimate = structure.decode_cpu_ms(_facts(data), len(data))
    with pytest.raises(SourceTooLarge, match="MAX_DECODE_CPU_MS"):
        render.open_image(data, Settings(max_decode_cpu_ms=estimate - 1))
    assert render.open_image(data, Settings(max_decode_cpu_ms=estimate)).size.area == 1200 * 900


def test_zero_from_the_environment_turns_the_budget_off() -> None:
    """``MAX_DECODE_CPU_MS=0`` (the template's ``MaxDecodeCpuMs``) is "off", as documented; below 0 is refused."""
    from smartthumb.config import ConfigError

    off = Settings.from_env({"MAX_DECODE_CPU_MS": "0"})
    header, size, _ = ESTIMATES["progressive 4:4:4 100 Mpx, 29 MiB"]
    assert off.max_decode_cpu_ms == 0
    assert structure.check_cpu(_facts(header), int(size), off) is None
    with pytest.raises(ConfigError, match="max_decode_cpu_ms"):
        Settings.from_env({"MAX_DECODE_CPU_MS": "-1"})
    with pytest.raises(ConfigError, match="function_memory_mb must be positive"):
        Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "0"})  # other limits have no "off"


BUCKET, ANALYSIS, PREFIX = "cpu-source", "cpu-analysis", "img/"
ANALYZE = "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops"


@pytest.fixture
def tight(s3, monkeypatch) -> bytes:
    """Both buckets, and a budget a 1 Mpx progressive JPEG is over."""
    two_buckets(s3, monkeypatch, BUCKET, ANALYSIS, SOURCE_PREFIX=PREFIX, MAX_DECODE_CPU_MS="1")
    data = small_progressive()
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "p.jpg", Body=data)
    return data


def _json(result: dict) -> dict:
    raw = result["body"]
    return json.loads(base64.b64decode(raw) if result.get("isBase64Encoded") else raw)


def test_over_the_budget_is_a_named_413_on_th_and_c7(tight, function_loader) -> None:
    fn = function_loader("thumbnail")
    for query in ("w=100", "w=100&h=100&c=7"):
        result = fn.handler(http_api_event("GET", f"/th?id=p.jpg&{query}", {"accept": "*/*"}), FakeLambdaContext())
        assert result["statusCode"] == 413, query
        error = _json(result)["error"]
        assert error["code"] == "SourceTooLarge" and "MAX_DECODE_CPU_MS" in error["message"], query


def test_over_the_budget_is_invalid_image_size_on_the_analyze_endpoint(tight, function_loader) -> None:
    fn = function_loader("thumbnail")
    event = http_api_event("POST", ANALYZE + "&smartcrops-aspect-ratios=1.0", {"content-type": "image/jpeg"}, tight)
    result = fn.handler(event, FakeLambdaContext())
    assert result["statusCode"] == 400
    assert _json(result)["error"]["innererror"]["code"] == "InvalidImageSize"


def test_over_the_budget_is_an_error_sidecar_from_the_analyze_function(
    tight, s3, function_loader, no_model_preload
) -> None:
    fn = with_ingest_analyzer(function_loader("analyze"), FakeAnalyzer())  # decodes through open_image
    etag = s3.head_object(Bucket=BUCKET, Key=PREFIX + "p.jpg")["ETag"].strip('"')
    event = copy.deepcopy(json.loads((EVENTS / "analyze_s3_put.json").read_text()))
    record = event["Records"][0]
    record["s3"]["bucket"] = {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"}
    record["s3"]["object"] = {"key": PREFIX + "p.jpg", "eTag": etag, "size": len(tight), "sequencer": "0A"}
    result = fn.handler(event, FakeLambdaContext())
    assert result["outcomes"] == ["failed-permanently"]
    doc = json.loads(s3.get_object(Bucket=ANALYSIS, Key=f"analysis/{PREFIX}p.jpg.json")["Body"].read())
    assert doc["status"] == "error" and doc["error"]["status"] == 413
    assert "MAX_DECODE_CPU_MS" in doc["error"]["message"]


def test_c7_without_a_sidecar_is_blind_ratio_when_two_decodes_are_over(tight, s3, monkeypatch, function_loader) -> None:
    """c=7 without a sidecar decodes twice (analysis, render): each under the budget is not enough."""
    estimate = structure.decode_cpu_ms(_facts(tight), len(tight))
    monkeypatch.setenv("MAX_DECODE_CPU_MS", str(estimate * 3 // 2))  # one decode fits, two do not
    fake = FakeAnalyzer()
    fn = with_analyzer(function_loader("thumbnail"), fake)
    target = "/th?id=p.jpg&w=100&h=100&c=7"
    blind = fn.handler(http_api_event("GET", target, {"accept": "*/*"}), FakeLambdaContext())
    assert blind["statusCode"] == 200 and blind["headers"]["X-Smartthumb-Region"] == "fallback"
    assert fake.calls == []  # no analysis started
    assert fn.handler(http_api_event("GET", "/th?id=p.jpg&w=100", {}), FakeLambdaContext())["statusCode"] == 200
    monkeypatch.setenv("MAX_DECODE_CPU_MS", str(estimate * 2))
    fn = with_analyzer(function_loader("thumbnail"), fake)
    smart = fn.handler(http_api_event("GET", target, {"accept": "*/*"}), FakeLambdaContext())
    assert smart["headers"]["X-Smartthumb-Region"] == "computed" and len(fake.calls) == 1


# ------------------------------------------------------------------ genuine files, every door, measured

#: Refused from the header at the default budget (or, at 1,024 MB, by the memory budget).
REFUSED = {"prog-444-100mpx.jpg", "prog-cmyk-100mpx.jpg", "png16-100mpx.png", "png16-zeros-100mpx.png",
           "interlaced-100mpx.png", "interlaced-zeros-100mpx.png"}  # fmt: skip
#: Ordinary photos: the AnalyzeFunction must analyse them.
KEPT = {"prog-420-24mpx.jpg", "prog-444-24mpx.jpg", "prog-420-48mpx.jpg", "prog-444-48mpx.jpg",
        "baseline-420-50mpx.jpg"}  # fmt: skip

GENUINE_DOORS = [
    pytest.param("th", THUMBNAIL_MB, id="th"),
    pytest.param("c7", THUMBNAIL_MB, marks=pytest.mark.model, id="c7"),
    pytest.param("analyze", THUMBNAIL_MB, marks=pytest.mark.model, id="analyze-endpoint"),
    pytest.param("s3", ANALYZE_MB, marks=pytest.mark.model, id="analyze-function"),
]


@pytest.fixture(scope="module")
def genuine_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("genuine")
    paths = []
    for name in sorted(REFUSED | KEPT):
        path = folder / name
        path.write_bytes(genuine.CLASSES[name]())
        paths.append(path)
    return paths


def machine_factor(path: Path) -> float:
    """This machine's CPU time for the calibration decode over the fitting machine's (at least 1)."""
    import resource

    from smartthumb.analysis.analyzer import decode_for_analysis

    data, settings = path.read_bytes(), Settings(function_memory_mb=4096, max_decode_cpu_ms=0)
    times = []
    for _ in range(3):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = usage.ru_utime + usage.ru_stime
        decode_for_analysis(data, settings)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        times.append((usage.ru_utime + usage.ru_stime - start) * 1000)
    return max(1.0, min(times) / CALIBRATION_MS)


@pytest.mark.slow
@pytest.mark.parametrize(("door", "memory_mb"), GENUINE_DOORS)
def test_genuine_large_sources_within_two_seconds_of_cpu(genuine_files, door: str, memory_mb: int) -> None:
    rows = run_capped(door, memory_mb, genuine_files)
    bound = CPU_BOUND_MS * machine_factor(next(p for p in genuine_files if p.name == CALIBRATION_FILE))
    print(f"\n{door} under {memory_mb} MB (MAX_DECODE_CPU_MS={DEFAULT}, bound {bound:.0f} ms):")
    for row in rows:
        print(f"  {row['name']:28} {row['outcome']:38} cpu {row['cpu_ms']:7.1f} ms  peak {row['peak_mb']} MB")
    assert [r["name"] for r in rows] == [p.name for p in genuine_files]
    for row in rows:
        outcome, name = row["outcome"], row["name"]
        assert not outcome.startswith(("MemoryError", "raised", "5")), row
        assert row["peak_mb"] <= memory_mb, row
        assert row["cpu_ms"] <= bound, (row, bound)
        if door == "s3":
            expected = "analysed" if name in KEPT else "failed-permanently 413 SourceTooLarge"
            assert outcome == expected, row
        elif door == "analyze":
            # Azure's format; the body cap (AZURE_MAX_BODY_BYTES) turns most of these away first.
            assert outcome.startswith(("200", "400 Invalid")), row
        elif name in REFUSED:
            assert outcome == "413 SourceTooLarge", row
        else:
            assert outcome.split()[0] in ("200", "413"), row  # 413: over the 1,024 MB memory budget
