"""Face-pass timing on benchmark photos, in one process (median of 5, interleaved).

Per photo: ``detect_faces`` and the whole ``analyze_array`` with the tiny-face
factor (``faces.TILE_SCALE_TINY``) at 2x (as shipped) and at 1.5x (round 1's
single factor), and the cost of one 1.5x tiled pass on its own.

    PYTHONPATH=layers/imaging/python .venv/bin/python tests/bench/crops/time_faces.py music-orchestra deface-city
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crops import load_cases

from smartthumb.analysis import faces, models
from smartthumb.analysis.analyzer import analyze_array, decode_for_analysis
from smartthumb.config import Settings


def _ms(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def main(ids: list[str]) -> None:
    session = models.get_session(models.YUNET)
    names = [o.name for o in session.get_outputs()]
    for case in load_cases(ids or None):
        decoded = decode_for_analysis(case.path.read_bytes(), Settings())
        runs: dict[str, list[float]] = {"faces 1.5x": [], "faces 2x": [], "analysis 1.5x": [], "analysis 2x": []}
        tiled: list[float] = []
        for _ in range(5):
            for label, scale in (("1.5x", 1.5), ("2x", 2.0)):
                faces.TILE_SCALE_TINY = scale
                runs[f"faces {label}"].append(_ms(partial(faces.detect_faces, decoded.rgb)))
                runs[f"analysis {label}"].append(_ms(partial(analyze_array, decoded, [1.0])))
            tiled.append(_ms(partial(faces._upsampled_pass, session, names, decoded.rgb, faces.CONFIRM_SCORE)))
        faces.TILE_SCALE_TINY = 2.0
        cells = "  ".join(f"{k} {statistics.median(v):6.1f}" for k, v in runs.items())
        print(f"{case.id:16s} {cells}  one 1.5x tiled pass {statistics.median(tiled):6.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
