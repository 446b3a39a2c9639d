"""Limits checked before the expensive step: output canvas, time budget, output bytes."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time

import pytest
from PIL import Image

from smartthumb.config import Settings
from smartthumb.geometry import CropMode, Size, plan_thumbnail
from smartthumb.limits import Deadline, check_plan, render_reserve_ms
from smartthumb.regions import RegionHint
from smartthumb.request import ThumbRequest
from smartthumb.service import ThumbnailService
from smartthumb.sources import SourceObject
from tests.conftest import REPO
from tests.hardening.conftest import error_of
from tests.hardening.corpus import png_raw


def _png(size: tuple[int, int], colour: object = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")  # type: ignore[arg-type]
    return buf.getvalue()


# ------------------------------------------------------------- output canvas


@pytest.mark.parametrize(
    ("src", "w", "h"),
    [((1, 20_000), 4000, None), ((20_000, 1), None, 4000), ((3, 60_000), 4096, None), ((6000, 10), None, None)],
)
def test_check_plan_refuses_derived_sides_over_the_limit(src, w, h) -> None:
    from smartthumb.errors import OutputTooLarge

    plan = plan_thumbnail(Size(*src), w, h, CropMode.NONE, True)
    with pytest.raises(OutputTooLarge):
        check_plan(plan, Settings())


def test_check_plan_accepts_the_seed_examples() -> None:
    for w, h, pad in ((500, None, True), (500, None, False), (200, 200, True), (200, 200, False)):
        check_plan(plan_thumbnail(Size(474, 316), w, h, CropMode.NONE, pad), Settings())


STRIP_CHILD = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
sys.path.insert(0, sys.argv[1])
from tests.hardening.conftest import *  # noqa: the moto fixtures are not needed here
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.service import ThumbnailService
from smartthumb.sources import SourceObject
from smartthumb.request import parse_th
import io
from PIL import Image
buf = io.BytesIO(); Image.new("RGB", (1, 20000), "red").save(buf, "PNG")
class One:
    def get(self, image_id):
        return SourceObject(key=image_id, data=buf.getvalue(), etag="e")
settings = Settings()
service = ThumbnailService(settings, One())
try:
    service.thumbnail(parse_th({"id": "strip.png", "w": sys.argv[2]}, settings), remaining_ms=20000)
    print("200")
except ThumbError as exc:
    print(exc.status, exc.code)
except MemoryError:
    print("MemoryError")
"""


def test_a_thin_strip_cannot_inflate_the_canvas() -> None:
    """``w=4000`` on a 1x20000 PNG (a 20 kpx file) would be a 320 Gpx canvas.

    Run in a child with a 1.5 GB address-space limit so a missing guard fails
    this test cleanly instead of taking the test runner down.
    """
    proc = subprocess.run(
        [sys.executable, "-c", STRIP_CHILD, str(REPO), "4000"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.stdout.strip() == "413 OutputTooLarge", (proc.stdout, proc.stderr[-1500:])


def test_strip_through_the_handler_is_a_named_413(make_fn) -> None:
    fn = make_fn()
    fn.put("strip.png", png_raw(1, 20_000, 8, 2, 3))
    result = fn.get("/th?id=strip.png&w=40")
    assert result["statusCode"] == 413
    err = error_of(result)
    assert err["code"] == "OutputTooLarge" and "'w' and 'h'" in err["message"]
    # Both sides given: a sane canvas, rendered.
    assert fn.get("/th?id=strip.png&w=40&h=400")["statusCode"] == 200


# ---------------------------------------------------------------- time budget


class CountingSource:
    """A source that records reads and can be slow."""

    def __init__(self, data: bytes, delay_s: float = 0.0) -> None:
        self.data = data
        self.delay_s = delay_s
        self.reads = 0

    def get(self, image_id: str) -> SourceObject:
        self.reads += 1
        time.sleep(self.delay_s)
        return SourceObject(key=image_id, data=self.data, etag="etag")


class RecordingRegions:
    def __init__(self) -> None:
        self.budgets: list[int] = []

    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint:
        self.budgets.append(budget_ms)
        return RegionHint(None, "none")


@pytest.mark.parametrize("remaining", [-5, 0, 50, 250])
def test_no_time_left_is_503_before_reading_the_source(remaining: int) -> None:
    from smartthumb.errors import TimeBudgetExceeded

    source = CountingSource(_png((64, 64)))
    service = ThumbnailService(Settings(), source)
    with pytest.raises(TimeBudgetExceeded):
        service.thumbnail(ThumbRequest(id="a.png", width=32), remaining_ms=remaining)
    assert source.reads == 0


def test_render_reserve_grows_with_the_source_pixels() -> None:
    """A 16 Mpx source needs ~940 ms by the estimate: 700 ms left is a 503, 5 s is fine."""
    from smartthumb.errors import TimeBudgetExceeded

    data = png_raw(4000, 4000, 8, 2, 12_000)
    assert render_reserve_ms(16_000_000) > 700
    service = ThumbnailService(Settings(), CountingSource(data))
    with pytest.raises(TimeBudgetExceeded):
        service.thumbnail(ThumbRequest(id="a.png", width=32), remaining_ms=700)
    assert service.thumbnail(ThumbRequest(id="a.png", width=32), remaining_ms=5000).body


def test_analysis_budget_counts_the_time_already_spent() -> None:
    regions = RecordingRegions()
    service = ThumbnailService(Settings(analysis_time_budget_ms=3000), CountingSource(_png((300, 200)), 0.5), regions)
    request = ThumbRequest(id="a.png", width=100, height=100, crop=CropMode.SMART_RATIO)
    service.thumbnail(request, remaining_ms=3000)
    # 3000 ms at the start, 500 ms spent reading: at most 2500 - 1000 reserved for the render.
    assert regions.budgets and regions.budgets[0] <= 1500


def test_deadline_without_a_context_never_expires() -> None:
    d = Deadline(None)
    d.require(10**9)
    assert d.analysis_budget_ms(3000, 300) == 3000
    now = [100.0]
    d = Deadline(1000, clock=lambda: now[0])
    now[0] += 0.9
    assert 99 < d.left_ms() < 101
    assert d.analysis_budget_ms(3000, 300) == 0


def test_time_budget_through_the_handler(make_fn) -> None:
    fn = make_fn()
    fn.context.remaining_ms = 100
    result = fn.get("/th?id=photo.jpg&w=100")
    assert result["statusCode"] == 503
    assert error_of(result)["code"] == "TimeBudgetExceeded"
    assert result["headers"]["Retry-After"]
    fn.context.remaining_ms = 10_000
    assert fn.get("/th?id=photo.jpg&w=100")["statusCode"] == 200


# ---------------------------------------------------------------- output bytes


def test_output_cap_lowers_quality_then_413(make_fn) -> None:
    """Noise does not compress: a small MAX_OUTPUT_BYTES forces the fallbacks."""
    noise = Image.merge("RGB", [Image.effect_noise((600, 400), 90)] * 3)
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    free = make_fn()
    free.put("noise.png", buf.getvalue())
    full = free.get("/th?id=noise.png&w=600&qlt=95")
    assert full["statusCode"] == 200
    full_bytes = len(full["body"]) * 3 // 4
    # A cap below the q=95 size but above the lowest retry: smaller output, still 200.
    capped = make_fn(MAX_OUTPUT_BYTES=str(full_bytes // 2))
    result = capped.get("/th?id=noise.png&w=600&qlt=95")
    assert result["statusCode"] == 200
    assert len(result["body"]) * 3 // 4 <= full_bytes // 2
    # A cap nothing can meet: a named 413, not a 500 and not an oversized body.
    tiny = make_fn(MAX_OUTPUT_BYTES="2000")
    result = tiny.get("/th?id=noise.png&w=600&qlt=95")
    assert result["statusCode"] == 413
    assert error_of(result)["code"] == "OutputTooLarge"


# ---------------------------------------------------------------- source bytes


class EndlessStream:
    """A body that never ends (or lies about its length); fails loudly past ``fuse`` bytes."""

    def __init__(self, fuse: int) -> None:
        self.read_total = 0
        self.fuse = fuse

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise AssertionError("an unbounded read() of the body")
        self.read_total += n
        if self.read_total > self.fuse:
            raise AssertionError(f"read {self.read_total} bytes of a body over the limit")
        return b"\xff" * n

    def close(self) -> None:
        pass


def test_source_bytes_are_bounded_whatever_content_length_says() -> None:
    from smartthumb.errors import SourceTooLarge
    from smartthumb.sources import S3Source

    class LyingClient:
        def __init__(self) -> None:
            self.body = EndlessStream(fuse=10 * 1000)

        def get_object(self, Bucket: str, Key: str) -> dict:
            return {"ContentLength": 10, "ETag": '"e"', "Body": self.body}

    client = LyingClient()
    with pytest.raises(SourceTooLarge):
        S3Source("bucket", "p/", 1000, client=client).get("x.jpg")
    assert client.body.read_total <= 1001 + 1000  # at most the limit and one more chunk


def test_source_bytes_over_the_limit_through_the_handler(make_fn) -> None:
    fn = make_fn(MAX_SOURCE_BYTES="5000")
    fn.put("big.png", _png((400, 400)) + b"\0" * 6000)
    result = fn.get("/th?id=big.png&w=10")
    assert result["statusCode"] == 413
    assert error_of(result)["code"] == "SourceTooLarge"


# ------------------------------------------------------------------ JPEG scans


def test_jpeg_scan_count_check() -> None:
    from smartthumb.errors import SourceTooLarge
    from smartthumb.render.open import MAX_JPEG_SCANS, check_jpeg_scans
    from tests.hardening.corpus import jpeg_scan_bomb

    photo = Image.merge("RGB", [Image.effect_noise((256, 256), 40)] * 3)
    for params in (
        {"progressive": True},
        {"progressive": False},
        {"progressive": True, "exif": _exif_with_thumbnail()},
    ):
        buf = io.BytesIO()
        photo.save(buf, "JPEG", quality=90, **params)
        check_jpeg_scans(buf.getvalue())  # ordinary files pass
    check_jpeg_scans(jpeg_scan_bomb(64, MAX_JPEG_SCANS - 20))
    with pytest.raises(SourceTooLarge):
        check_jpeg_scans(jpeg_scan_bomb(64, MAX_JPEG_SCANS))
    check_jpeg_scans(_png((8, 8)) + b"\xff\xda" * 1000)  # not a JPEG: not counted


def _exif_with_thumbnail() -> bytes:
    """EXIF carrying a JPEG thumbnail (its own SOS marker) in IFD1."""
    thumb = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(thumb, "JPEG", progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 1
    raw = exif.tobytes()
    return raw + thumb.getvalue()  # trailing bytes after the IFDs: as cameras store the thumbnail


def test_scan_bomb_through_the_handler_is_refused_quickly(make_fn) -> None:
    from tests.hardening.corpus import jpeg_scan_bomb

    fn = make_fn()
    fn.put("scans.jpg", jpeg_scan_bomb(1024, 20_000))
    result = fn.get("/th?id=scans.jpg&w=100")
    # A 413 (not a 200 after a long decode) shows the scans were counted before decoding.
    assert result["statusCode"] == 413 and error_of(result)["code"] == "SourceTooLarge"


def test_output_cap_cannot_be_set_past_the_lambda_payload() -> None:
    from smartthumb.config import ConfigError

    with pytest.raises(ConfigError):
        Settings.from_env({"MAX_OUTPUT_BYTES": "4700000"})
    assert Settings.from_env({"MAX_OUTPUT_BYTES": "4600000"}).max_output_bytes == 4_600_000


@pytest.mark.slow
def test_the_largest_answer_fits_the_lambda_response_payload(make_fn) -> None:
    """A 10 MB noise JPEG asked for at full size and quality 100: the encoder
    steps quality down until the body fits MAX_OUTPUT_BYTES (default), and the
    whole response the function returns stays under Lambda's 6 MB."""
    import json

    noise = Image.merge("RGB", [Image.effect_noise((2400, 2000), 120) for _ in range(3)])
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=100)
    assert len(buf.getvalue()) > 6 * 2**20
    fn = make_fn()
    fn.put("noise.jpg", buf.getvalue())
    result = fn.get("/th?id=noise.jpg&w=2400&p=0&qlt=100")
    assert result["statusCode"] == 200, result["body"][:200]
    assert len(base64.b64decode(result["body"])) <= Settings().max_output_bytes
    assert len(json.dumps(result).encode()) < 6 * 2**20
