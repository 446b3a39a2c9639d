#!/usr/bin/env python
"""Analysis benchmark: smartthumb smart-crop analysis against libvips ``attention``.

A script, not a test (pytest does not collect ``tests/bench``). From the
repository root::

    .venv/bin/python tests/bench/bench_analysis.py             # full run
    .venv/bin/python tests/bench/bench_analysis.py --quick     # 3 repetitions
    .venv/bin/python tests/bench/bench_analysis.py --side-check 256   # crops at a smaller saliency input vs 320

Needs ``pyvips==3.2.0`` and ``pyvips-binary`` (the render benchmark's pins).

What is timed, single-threaded (``VIPS_CONCURRENCY=1``, one onnxruntime
thread, the usual BLAS variables at 1), in the same process, interleaved:

* **smartthumb**: read the file, :func:`smartthumb.analysis.analyzer.analyze_image`
  with five ratios (decode reduced to 640 px, YuNet, U²-Net-p when no face,
  five boxes);
* **libvips**: read the file, ``pyvips.Image.thumbnail(path, 640)`` (shrink-on-load),
  then ``smartcrop(side, side, interesting='attention')`` of the largest square
  — one crop, which is libvips's whole analysis.

Sources are 12-megapixel JPEGs synthesised into a temporary directory from each
bundled sample (upscaled, with grain so they compress like photos). The
astronaut has a face (saliency is skipped); the others do not.

Fresh-process figures come from subprocesses: onnxruntime import, the two
sessions' creation ("model load"), the first analysis including all of that,
and peak RSS (``ru_maxrss``) after one analysis, for both libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Before pyvips or onnxruntime is imported (both are imported lazily below).
for _var in ("VIPS_CONCURRENCY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers" / "imaging" / "python"))
SAMPLES = ROOT / "layers" / "imaging" / "python" / "smartthumb" / "samples"
NAMES = ("astronaut", "chelsea", "coffee", "rocket")
RATIOS = (0.75, 1.0, 1.33, 1.5, 1.78)
PIXELS = 12_000_000
VIPS_SIDE = 640


def synthesise(workdir: Path) -> list[Path]:
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(2026)
    paths = []
    for name in NAMES:
        path = workdir / f"{name}-12mp.jpg"
        paths.append(path)
        if path.exists():
            continue
        base = Image.open(SAMPLES / f"{name}.jpg").convert("RGB")
        k = (PIXELS / (base.width * base.height)) ** 0.5
        size = (round(base.width * k), round(base.height * k))
        arr = np.asarray(base.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
        grain = rng.normal(0, 6, size=(size[1], size[0], 1))
        noisy = np.clip(arr + grain, 0, 255).astype(np.uint8)
        Image.fromarray(noisy).filter(ImageFilter.GaussianBlur(0.6)).save(path, "JPEG", quality=90)
    return paths


def ours(path: Path, side: int | None = None) -> object:
    from smartthumb.analysis import analyzer
    from smartthumb.config import Settings

    data = path.read_bytes()
    if side is None:
        return analyzer.analyze_image(data, RATIOS, Settings())
    return analyzer.analyze_array(analyzer.decode_for_analysis(data, Settings()), RATIOS, saliency_side=side)


def vips(path: Path) -> object:
    import pyvips

    thumb = pyvips.Image.thumbnail(str(path), VIPS_SIDE).copy_memory()
    side = min(thumb.width, thumb.height)
    crop = thumb.smartcrop(side, side, interesting="attention")
    return crop.xoffset, crop.yoffset  # ints: forces the evaluation


def peak_mib() -> float:
    """This process's peak resident set (VmHWM: unlike ``ru_maxrss`` it is not
    inherited from the parent across fork/exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(lib: str, path: str, side: int, preload: bool) -> None:
    """One analysis in a fresh process; print timings and peak RSS as JSON."""
    t0 = time.perf_counter()
    if lib == "vips":
        import pyvips

        pyvips.cache_set_max(0)
        t_import = time.perf_counter() - t0
        t1 = time.perf_counter()
        vips(Path(path))
        first = time.perf_counter() - t1
        result = {"import_s": t_import, "load_s": 0.0, "first_s": first, "second_s": 0.0}
    else:
        from smartthumb.analysis import analyzer, models  # noqa: F401  (no onnxruntime yet)

        t_import = time.perf_counter() - t0
        preload_s = models.preload() if preload else 0.0
        t1 = time.perf_counter()
        ours(Path(path), side)
        first = time.perf_counter() - t1
        t2 = time.perf_counter()
        ours(Path(path), side)
        second = time.perf_counter() - t2
        result = {
            "import_s": t_import,
            "load_s": sum(models.load_times.values()),
            "preload_s": preload_s,
            "first_s": first,
            "second_s": second,
        }
    result["peak_mib"] = peak_mib()
    print(json.dumps(result))


def run_child(lib: str, path: Path, side: int, preload: bool = False, reps: int = 1) -> dict:
    """Median of each figure over ``reps`` fresh processes."""
    runs = []
    for _ in range(reps):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", lib, str(path), str(side), "1" if preload else "0"],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def side_check(side: int) -> int:
    """Crops with U²-Net-p at ``side`` against 320 on held-out photos (no faces)."""
    import numpy as np
    import skimage
    from PIL import Image

    from smartthumb.analysis import analyzer
    from smartthumb.config import Settings

    data_dir = Path(skimage.__file__).parent / "data"
    names = [
        "horse.png",
        "coins.png",
        "motorcycle_left.png",
        "hubble_deep_field.jpg",
        "retina.jpg",
        "ihc.png",
        "logo.png",
        "page.png",
        "color.png",
        "moon.png",
        "clock_motion.png",
        "cell.png",
        "brick.png",
        "camera.png",
    ]
    worst = 1.0
    changed = 0
    total = 0
    for name in names:
        path = data_dir / name
        rgb = np.asarray(Image.open(path).convert("RGB"))
        buf_path = Path(tempfile.gettempdir()) / f"sidecheck-{name}.png"
        Image.fromarray(rgb).save(buf_path)
        decoded = analyzer.decode_for_analysis(buf_path.read_bytes(), Settings())
        a = analyzer.analyze_array(decoded, RATIOS, saliency_side=320, always_saliency=True)
        b = analyzer.analyze_array(decoded, RATIOS, saliency_side=side, always_saliency=True)
        diffs = []
        for (_, ba), (_, bb) in zip(a.crops, b.crops, strict=True):
            inter = ba.intersection_area(bb)
            iou = inter / (ba.area + bb.area - inter)
            worst = min(worst, iou)
            total += 1
            changed += ba != bb
            diffs.append(max(abs(ba.x - bb.x), abs(ba.y - bb.y)))
        dims = f"{decoded.size.width}x{decoded.size.height}"
        print(f"{name:24s} {dims:>9s} roi320={a.roi} roi{side}={b.roi} shift px {diffs}")
    print(f"side {side}: {changed}/{total} boxes moved, worst IoU {worst:.3f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=9, help="timed repetitions per image and library (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 repetitions, one fresh-process sample")
    parser.add_argument("--workdir", help="keep the synthesised sources here (default: a temp dir)")
    parser.add_argument("--fresh-reps", type=int, default=5, help="fresh processes per row, median (default 5)")
    parser.add_argument("--side", type=int, default=None, help="U²-Net-p input side (default: the analyzer's)")
    parser.add_argument("--side-check", type=int, metavar="SIDE", help="compare crops at SIDE against 320 and exit")
    parser.add_argument("--child", nargs=4, metavar=("LIB", "PATH", "SIDE", "PRELOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.child[3] == "1")
        return 0
    if args.side_check:
        return side_check(args.side_check)

    import onnxruntime
    import pyvips

    from smartthumb.analysis import analyzer

    side = args.side or analyzer.SALIENCY_SIDE
    pyvips.cache_set_max(0)
    reps = 3 if args.quick else args.reps
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        workdir = Path(tmp.name)
    paths = synthesise(workdir)
    print(
        f"onnxruntime {onnxruntime.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, "
        f"saliency side {side}, ratios {RATIOS}, {reps} reps, single-threaded"
    )

    # Warm both (sessions created, libvips initialised) before timing.
    for path in paths:
        ours(path, side)
        vips(path)

    rows = []
    all_ours: list[float] = []
    all_vips: list[float] = []
    for path in paths:
        t_ours: list[float] = []
        t_vips: list[float] = []
        for rep in range(reps):
            order = (("ours", t_ours), ("vips", t_vips)) if rep % 2 == 0 else (("vips", t_vips), ("ours", t_ours))
            for lib, sink in order:
                started = time.perf_counter()
                ours(path, side) if lib == "ours" else vips(path)
                sink.append(time.perf_counter() - started)
        analysis = ours(path, side)
        mo, mv = statistics.median(t_ours), statistics.median(t_vips)
        all_ours += t_ours
        all_vips += t_vips
        from PIL import Image

        with Image.open(path) as im:
            dims = f"{im.width}x{im.height}"
        rows.append((path.name, dims, len(analysis.faces), mo, mv))

    print()
    print(f"{'image':22s} {'size':>10s} {'faces':>5s} {'smartthumb ms':>14s} {'libvips ms':>11s} {'ratio':>6s}")
    for name, dims, nfaces, mo, mv in rows:
        print(f"{name:22s} {dims:>10s} {nfaces:>5d} {mo * 1000:14.1f} {mv * 1000:11.1f} {mo / mv:6.2f}")
    mo, mv = statistics.median(all_ours), statistics.median(all_vips)
    worst = max(r[3] / r[4] for r in rows)
    print(f"{'all (median)':22s} {'':>10s} {'':>5s} {mo * 1000:14.1f} {mv * 1000:11.1f} {mo / mv:6.2f}")
    print(f"worst image ratio {worst:.2f} (target <= 8)")

    vips_warm = statistics.median(all_vips)
    print()
    fresh_reps = 1 if args.quick else args.fresh_reps
    print(f"fresh process (median of {fresh_reps} subprocesses per row; 'cold' = lazy load inside the first analysis,")
    print("'preload' = models.preload() at init first, its time in the load column):")
    print(
        f"{'image':22s} {'run':>18s} {'import ms':>10s} {'load ms':>8s} {'first ms':>9s} {'2nd ms':>7s} "
        f"{'peak MiB':>9s} {'first/vips':>10s}"
    )
    fresh_paths = paths[:1] + paths[-1:] if args.quick else paths
    worst = {"cold": 0.0, "preload": 0.0}
    for path in fresh_paths:
        for label, preload in (("cold", False), ("preload", True)):
            o = run_child("ours", path, side, preload, fresh_reps)
            worst[label] = max(worst[label], o["first_s"] / vips_warm)
            load = o["preload_s"] if preload else o["load_s"]
            print(
                f"{path.name:22s} {'smartthumb ' + label:>18s} {o['import_s'] * 1000:10.1f} {load * 1000:8.1f} "
                f"{o['first_s'] * 1000:9.1f} {o['second_s'] * 1000:7.1f} {o['peak_mib']:9.1f} "
                f"{o['first_s'] / vips_warm:10.2f}"
            )
        v = run_child("vips", path, side, reps=fresh_reps)
        print(
            f"{path.name:22s} {'libvips':>18s} {v['import_s'] * 1000:10.1f} {'':>8s} {v['first_s'] * 1000:9.1f} "
            f"{'':>7s} {v['peak_mib']:9.1f}"
        )
    print(
        f"worst first analysis / libvips warm median ({vips_warm * 1000:.1f} ms): "
        f"cold {worst['cold']:.2f}, after preload {worst['preload']:.2f} (target <= 12)"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
