"""One upload's analysis: one pass (``build_sidecar`` today) against the two passes it
used to make (configured ratios, then the automatic crop), in the same run, warm models.

Usage: ``.venv/bin/python tests/bench/bench_one_pass.py [--repeat 7]``. Prints medians and
the ratio one/two passes per sample image.
"""

from __future__ import annotations

import argparse
import statistics
import time

from smartthumb.analysis import models
from smartthumb.analysis.analyzer import analyze_image
from smartthumb.config import Settings
from smartthumb.sidecars import build_sidecar
from smartthumb.sources import sample_store_path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeat", type=int, default=7)
repeat = parser.parse_args().repeat
s = Settings()
models.preload(settings=s)
ratios = list(s.smartcrop_aspect_ratios)
for name in ("rocket.jpg", "astronaut.jpg"):
    data = (sample_store_path() / name).read_bytes()

    def two(data=data):  # what an upload did before: a pass for the ratios, one for the automatic crop
        analyze_image(data, ratios, s)
        analyze_image(data, None, s)

    def one(data=data, name=name):  # now: build_sidecar, one pass, the automatic crop derived
        build_sidecar(analyze_image, s, bucket="b", key=name, etag="e", data=data, trigger="t")

    t = {"two": [], "one": []}
    for _ in range(repeat):
        for k, f in (("two", two), ("one", one)):
            t0 = time.perf_counter()
            f()
            t[k].append((time.perf_counter() - t0) * 1000)
    a, b = statistics.median(t["two"]), statistics.median(t["one"])
    print(f"{name}: two passes {a:.0f} ms, one pass {b:.0f} ms, ratio {b / a:.2f}")
