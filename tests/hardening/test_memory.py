"""Peak memory of rendering decompression bombs, measured in a fresh process each.

A bomb over the pixel limit must be refused from its header, costing almost
nothing; a source just under the limit may be decoded, and then costs at most
about one RGBA frame of ``MAX_SOURCE_PIXELS`` plus working slack. The child
process warms up (imports, one small render) before its baseline is taken, so
the figure is what the bomb itself cost: the kernel's RSS high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs``) minus the RSS before.

Run alone to see the figures: ``.venv/bin/pytest -s tests/hardening/test_memory.py``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO
from tests.hardening.corpus import MAX_SOURCE_PIXELS, bomb_names, case, png_raw

#: The bound for a source that is decoded, per source pixel: two RGBA frames
#: (the decoded source and the premultiplied copy Pillow's resize makes of an
#: RGBA image), plus 32 MB for the resize and encode working set. Measured at
#: 16 Mpx: 16-bit RGBA PNG +123 MB, palette GIF +77 MB, 1-bit PNG +31 MB, and
#: 8-bit RGBA PNG +2 MB (libspng decodes it in strips; +0.9 MB without isal). At the
#: default MAX_SOURCE_PIXELS (100 Mpx) this is ~800 MB: size the Lambda's
#: memory (or the limit) with it.
BYTES_PER_PIXEL = 8
DECODE_BOUND_MB = MAX_SOURCE_PIXELS * BYTES_PER_PIXEL / 2**20 + 32
#: The analysis (AnalyzeFunction, Azure endpoint) decodes at full size too and
#: flattens alpha before it reduces: an RGBA source costs about four frames
#: (measured at 16 Mpx: RGBA PNG +252 MB, GIF +87 MB, 1-bit PNG +86 MB; at
#: 100 Mpx an RGBA PNG took +1535 MB). Bounded here so it cannot grow unseen.
ANALYSIS_BYTES_PER_PIXEL = 16
ANALYSIS_BOUND_MB = MAX_SOURCE_PIXELS * ANALYSIS_BYTES_PER_PIXEL / 2**20 + 32
#: A refused bomb may cost no more than this.
REFUSED_BOUND_MB = 8

CHILD = r"""
import io, json, re, sys
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.geometry import CropMode
from smartthumb.render import render_bytes
from smartthumb.request import ThumbRequest
from PIL import Image

settings = Settings(max_source_pixels=int(sys.argv[2]), max_animation_frames=100)
request = ThumbRequest(id="x", width=200, height=200, crop=CropMode.BLIND_RATIO)
warm = io.BytesIO()
Image.new("RGB", (64, 64), "red").save(warm, "PNG")
render_bytes(warm.getvalue(), request, settings)
def status_kb(field):
    with open("/proc/self/status") as fh:
        return int(re.search(field + r":\s+(\d+) kB", fh.read()).group(1))

data = open(sys.argv[1], "rb").read()
# ru_maxrss survives fork+exec (it would report the parent's peak); reset the
# kernel's high-water mark instead and read it back after the render.
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status_kb("VmRSS")
try:
    body, fmt = render_bytes(data, request, settings)
    outcome = f"200 {fmt} {len(body)} bytes"
except ThumbError as exc:
    outcome = f"{exc.status} {exc.code}"
after = status_kb("VmHWM")
print(json.dumps({"outcome": outcome, "delta_mb": (after - before) / 1024, "peak_mb": after / 1024}))
"""


ANALYSIS_CHILD = r"""
import io, json, re, sys
from smartthumb.analysis.analyzer import analyze_image
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from PIL import Image

def status_kb(field):
    with open("/proc/self/status") as fh:
        return int(re.search(field + r":\s+(\d+) kB", fh.read()).group(1))

settings = Settings(max_source_pixels=int(sys.argv[2]), max_animation_frames=100)
warm = io.BytesIO()
Image.new("RGB", (64, 64), "red").save(warm, "PNG")
analyze_image(warm.getvalue(), [1.0], settings)  # loads the models
data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status_kb("VmRSS")
try:
    analyze_image(data, [1.0], settings)
    outcome = "200 analysed"
except ThumbError as exc:
    outcome = f"{exc.status} {exc.code}"
after = status_kb("VmHWM")
print(json.dumps({"outcome": outcome, "delta_mb": (after - before) / 1024, "peak_mb": after / 1024}))
"""


def measure(path: Path, child: str = CHILD) -> dict[str, object]:
    env_path = str(REPO / "layers" / "imaging" / "python")
    proc = subprocess.run(
        [sys.executable, "-c", child, str(path), str(MAX_SOURCE_PIXELS)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _near_limit_sources() -> dict[str, bytes]:
    """Bombs just under the limit: these are decoded, so they test the decode bound."""
    side = int(MAX_SOURCE_PIXELS**0.5) - 10
    gif = Image.new("P", (side, side), 0)
    buf = io.BytesIO()
    gif.save(buf, "GIF")
    return {
        "at-limit-bilevel.png": png_raw(side, side, 1, 0, (side + 7) // 8),
        "at-limit-rgba.png": png_raw(side, side, 8, 6, side * 4),  # 8-bit: libspng, in strips
        "at-limit-rgba16.png": png_raw(side, side, 16, 6, side * 8),  # 16-bit: Pillow's decoder
        "at-limit.gif": buf.getvalue(),
    }


@pytest.mark.slow
def test_bombs_stay_under_the_memory_bound(tmp_path: Path) -> None:
    figures: dict[str, dict[str, object]] = {}
    for name in bomb_names():
        path = tmp_path / name
        path.write_bytes(case(name).data)
        figures[name] = measure(path)
    for name, data in _near_limit_sources().items():
        path = tmp_path / name
        path.write_bytes(data)
        figures[name] = measure(path)
    print(f"\nbounds: refused {REFUSED_BOUND_MB} MB, decoded {DECODE_BOUND_MB:.0f} MB")
    for name, fig in figures.items():
        print(f"{name:24} {fig['outcome']:32} +{fig['delta_mb']:.1f} MB (peak {fig['peak_mb']:.0f} MB)")
    for name in bomb_names():
        fig = figures[name]
        assert str(fig["outcome"]).startswith(("413", "415")), (name, fig)
        assert float(fig["delta_mb"]) < REFUSED_BOUND_MB, (name, fig)
    for name in _near_limit_sources():
        fig = figures[name]
        assert str(fig["outcome"]).startswith("200"), (name, fig)
        assert float(fig["delta_mb"]) < DECODE_BOUND_MB, (name, fig)


@pytest.mark.slow
@pytest.mark.model
def test_analysis_of_bombs_stays_under_its_memory_bound(tmp_path: Path) -> None:
    sources = {name: case(name).data for name in bomb_names()} | _near_limit_sources()
    figures = {}
    for name, data in sources.items():
        path = tmp_path / name
        path.write_bytes(data)
        figures[name] = measure(path, ANALYSIS_CHILD)
    print(f"\nanalysis bounds: refused {REFUSED_BOUND_MB} MB, decoded {ANALYSIS_BOUND_MB:.0f} MB")
    for name, fig in figures.items():
        print(f"{name:24} {fig['outcome']:32} +{fig['delta_mb']:.1f} MB (peak {fig['peak_mb']:.0f} MB)")
    for name in bomb_names():
        assert str(figures[name]["outcome"]).startswith(("413", "415")), (name, figures[name])
        assert float(figures[name]["delta_mb"]) < REFUSED_BOUND_MB, (name, figures[name])
    for name in _near_limit_sources():
        assert str(figures[name]["outcome"]).startswith("200"), (name, figures[name])
        assert float(figures[name]["delta_mb"]) < ANALYSIS_BOUND_MB, (name, figures[name])
