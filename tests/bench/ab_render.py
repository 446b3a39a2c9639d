#!/usr/bin/env python
"""A/B render benchmark: this checkout's renderer against another commit's, interleaved.

For changes to ``smartthumb.render`` that must not slow the hot path. Each
side runs in its own long-lived worker process (two copies of one package
cannot share a process); the parent sends every case to both, alternating
which goes first, and each worker reports the CPU time (``process_time``) of
one ``render_bytes`` call, which other jobs on a shared machine disturb much
less than wall time. The result per case is the median of the paired ratios
this/base (below 1.0 = this checkout is faster). Sources and targets are
:mod:`bench_render`'s. Run from the repository root::

    .venv/bin/python tests/bench/ab_render.py --base main --workdir /tmp/stbench --reps 7

``--base`` is any git revision; it is exported with ``git archive`` into a
temporary directory. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_render  # sets the single-thread variables and sys.path


def worker(root: str) -> None:
    """Read ``path query format`` lines; render each once; print its CPU seconds."""
    sys.path.insert(0, str(Path(root) / "layers" / "imaging" / "python"))
    import smartthumb
    from smartthumb.config import Settings
    from smartthumb.render import render_bytes
    from smartthumb.request import parse_query_string, parse_th

    assert str(Path(smartthumb.__file__).resolve()).startswith(str(Path(root).resolve())), smartthumb.__file__
    settings = Settings()
    cache: dict[str, bytes] = {}
    for line in sys.stdin:
        path, query, fmt = line.split()
        data = cache.setdefault(path, Path(path).read_bytes())
        request = parse_th(parse_query_string(query), settings, require_id=False)
        started = time.process_time()
        render_bytes(data, request, settings, fmt=fmt)
        print(time.process_time() - started, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD", help="git revision to compare against (default HEAD)")
    parser.add_argument("--reps", type=int, default=7, help="paired repetitions per case (default 7)")
    parser.add_argument("--workdir", help="where bench_render's sources are (or go); default: a temp dir")
    parser.add_argument("--only", help="run only sources whose name contains this")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp) / "sources"
        workdir.mkdir(parents=True, exist_ok=True)
        bench_render.synthesise(workdir)
        base_root = Path(tmp) / "base"
        base_root.mkdir()
        command = ["git", "archive", args.base, "layers/imaging/python"]
        archive = subprocess.run(command, cwd=bench_render.ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base_root)], input=archive.stdout, check=True)
        roots = {"base": str(base_root), "this": str(bench_render.ROOT)}
        workers = {
            name: subprocess.Popen(
                [sys.executable, __file__, "--worker", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for name, root in roots.items()
        }

        def run(name: str, line: str) -> float:
            proc = workers[name]
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            return float(proc.stdout.readline())

        print(f"base {args.base}, {args.reps} paired reps, CPU time, JPEG output")
        print("| source | target | base ms | this ms | this/base |")
        print("|---|---|---:|---:|---:|")
        everything: list[float] = []
        for source in bench_render.SOURCES:
            if args.only and args.only.lower() not in source.name.lower():
                continue
            for target in bench_render.TARGETS:
                line = f"{workdir / source.file} {target.query} JPEG"
                run("base", line), run("this", line)  # warm-up
                times: dict[str, list[float]] = {"base": [], "this": []}
                ratios = []
                for rep in range(args.reps):
                    order = ("base", "this") if rep % 2 == 0 else ("this", "base")
                    pair = {name: run(name, line) for name in order}
                    for name, seconds in pair.items():
                        times[name].append(seconds)
                    ratios.append(pair["this"] / pair["base"])
                everything += ratios
                base_ms, this_ms = (statistics.median(times[n]) * 1000 for n in ("base", "this"))
                ratio = statistics.median(ratios)
                print(f"| {source.name} | {target.name} | {base_ms:.1f} | {this_ms:.1f} | {ratio:.3f} |")
        print(f"\nall cases: median paired ratio {statistics.median(everything):.3f}")
        for proc in workers.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
