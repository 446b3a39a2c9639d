"""Cold and warm starts of both functions under the real Lambda Runtime Interface Emulator.

Not a test (pytest does not collect tests/bench). For each round it starts a
fresh emulator per function (infra/rie/run.py: the template's handler and
environment, moto S3 on 127.0.0.1) and reads the emulator's own figures:

* ``init``: its ``INIT REPORT`` duration, i.e. interpreter start, the runtime
  client and the handler module's import (what Lambda reports as Init Duration);
* ``first``: the first invocation's handler time (``INVOKE RTDONE``), a render
  for ThumbnailFunction, an analysis for AnalyzeFunction (models load here);
* ``warm``: the median handler time of the following invocations.

In the same run, the baselines: a bare ``python -c 'import PIL.Image, boto3,
aws_lambda_powertools'`` (wall time of the whole process) and an emulator
running an empty handler (the floor: interpreter + awslambdaric).

Targets (issue 5): ThumbnailFunction init <= 1.3x the bare import; AnalyzeFunction
init + first analysis <= 3x ThumbnailFunction init + first render. Also checks,
with ``python -X importtime``, that importing the thumbnail handler loads
neither numpy nor onnxruntime.

    .venv/bin/python tests/bench/bench_coldstart.py              # 5 rounds
    .venv/bin/python tests/bench/bench_coldstart.py --rounds 9 --warm 20
    .venv/bin/python tests/bench/bench_coldstart.py --layer-dir /tmp/layer311/python
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "infra" / "events"


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smartthumb_rie_runner", REPO / "infra" / "rie" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


run = load_runner()


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def bare_import_ms() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import PIL.Image, boto3, aws_lambda_powertools"], check=True)
    return (time.perf_counter() - started) * 1000


def empty_handler_init_ms() -> float:
    """The emulator's floor: INIT REPORT for a handler module that imports nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "task"
        task.mkdir()
        (task / "app.py").write_text("def handler(event, context):\n    return {}\n")
        fn = run.LocalLambda("ThumbnailFunction", env_json=None)
        # No Makefile in `task`: the runner copies the directory as the function code.
        fn.spec = run.FunctionSpec("Empty", task, "app.handler", 128, 3, {})
        with fn:
            fn.invoke({})
            return fn.init_durations_ms()[0]


def cold_round(
    logical_id: str, s3: Any, layer_dir: Path | None, first: Callable[[Any], None], warm: Callable[[Any], None], n: int
) -> dict[str, float]:
    with run.LocalLambda(logical_id, s3_endpoint=s3.endpoint, layer_dir=layer_dir) as fn:
        first(fn)
        for _ in range(n):
            warm(fn)
        (init,) = fn.init_durations_ms()
        handler = fn.handler_durations_ms()
    return {"init": init, "first": handler[0], "warm": statistics.median(handler[1:]) if n else float("nan")}


def thumbnail_calls() -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    request = event("th_fit.json")

    def call(fn: Any) -> None:
        response = fn.invoke(request).payload
        assert response["statusCode"] == 200, response

    return call, call


def analyze_calls(s3: Any) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
    """Each measured call is a real analysis: the sidecar is deleted (untimed by the handler figure) in between."""
    put, delete = event("analyze_s3_put.json"), event("analyze_s3_delete.json")
    env = run.function_spec("AnalyzeFunction").environment
    sidecar = env["ANALYSIS_PREFIX"] + put["Records"][0]["s3"]["object"]["key"] + ".json"

    def first(fn: Any) -> None:
        s3.client().delete_object(Bucket=env["ANALYSIS_BUCKET"], Key=sidecar)  # left by the previous round
        answer = fn.invoke(put).payload
        assert answer["outcomes"] == ["analysed"], answer

    def warm(fn: Any) -> None:
        assert fn.invoke(delete).payload["outcomes"] == ["deleted"]
        answer = fn.invoke(put).payload
        assert answer["outcomes"] == ["analysed"], answer

    return first, warm


def handler_imports(layer_dir: Path | None) -> set[str]:
    """Top-level packages `import app` (ThumbnailFunction) loads, from `python -X importtime`."""
    fn = run.LocalLambda("ThumbnailFunction", layer_dir=layer_dir, s3_endpoint="http://127.0.0.1:9")
    try:
        return fn.imported_packages()
    finally:
        fn.stop()


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="cold starts per function")
    parser.add_argument("--warm", type=int, default=10, help="warm invocations after each cold start")
    parser.add_argument("--layer-dir", type=Path, help="a built layer's python/ (default: the repository source)")
    args = parser.parse_args()

    loaded = handler_imports(args.layer_dir)
    heavy = sorted(loaded & {"numpy", "onnxruntime"})
    print(f"import app (ThumbnailFunction) loads numpy/onnxruntime: {heavy or 'neither'}")

    s3 = run.LocalS3().start()
    try:
        s3.prepare(run.function_spec("AnalyzeFunction").environment, seed_samples=True)
        bare, floor, thumb, analyze = [], [], [], []
        th_first, th_warm = thumbnail_calls()
        an_first, an_warm = analyze_calls(s3)
        for i in range(args.rounds):
            # Interleaved so that each kind sees the same machine load.
            bare.append(bare_import_ms())
            floor.append(empty_handler_init_ms())
            thumb.append(cold_round("ThumbnailFunction", s3, args.layer_dir, th_first, th_warm, args.warm))
            analyze.append(cold_round("AnalyzeFunction", s3, args.layer_dir, an_first, an_warm, max(args.warm // 3, 1)))
            th_ms, an_ms = thumb[-1]["init"], analyze[-1]["init"]
            print(f"round {i + 1}/{args.rounds}: thumbnail init {th_ms:.0f} ms, analyze init {an_ms:.0f} ms")
    finally:
        s3.stop()

    bare_ms, floor_ms = statistics.median(bare), statistics.median(floor)
    print()
    print(
        f"medians over {args.rounds} cold starts (ms); layer: {args.layer_dir or 'repository source + venv packages'}"
    )
    print(f"| {'':34} | {'init':>7} | {'first':>7} | {'warm':>7} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    print(f"| {'python -c import PIL.Image,boto3,powertools':34.34} | {bare_ms:7.1f} | {'':7} | {'':7} |")
    print(f"| {'emulator, empty handler':34} | {floor_ms:7.1f} | {'':7} | {'':7} |")
    for name, rows in (("ThumbnailFunction (th_fit)", thumb), ("AnalyzeFunction (S3 put)", analyze)):
        print(
            f"| {name:34} | {median(rows, 'init'):7.1f} | {median(rows, 'first'):7.1f} | {median(rows, 'warm'):7.1f} |"
        )
    th_init = median(thumb, "init")
    th_total = statistics.median(r["init"] + r["first"] for r in thumb)
    an_total = statistics.median(r["init"] + r["first"] for r in analyze)
    r1 = th_init / bare_ms
    r2 = an_total / th_total
    print()
    print(f"ThumbnailFunction init / bare import        = {r1:.2f}  (target <= 1.3)  {'ok' if r1 <= 1.3 else 'MISSED'}")
    print(f"Analyze init+first / Thumbnail init+first   = {r2:.2f}  (target <= 3.0)  {'ok' if r2 <= 3.0 else 'MISSED'}")
    print(f"ThumbnailFunction init / emulator floor     = {th_init / floor_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
