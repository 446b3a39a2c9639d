"""What a sidecar saves: ``/th ... c=7`` from a precomputed sidecar vs analysed on the fly.

A script, not a test (pytest does not collect tests/bench). In one process,
with moto's in-process S3 and the real models:

1. the AnalyzeFunction handles an upload event for each sample (time per upload);
2. ``/th?...&c=7`` through the ThumbnailFunction handler, with the sidecar
   remembered by the warm container, and read from S3 on every request;
3. the same request with no analysis bucket (analysed on the fly, warm models);
4. ``c=4`` (blind ratio) as the floor.

Usage: ``.venv/bin/python tests/bench/bench_sidecar.py [--repeat 15]``. Prints medians in ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples"
sys.path.insert(0, str(REPO))


class Ctx:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}_{uuid.uuid4().hex}", REPO / "functions" / name / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="1",
        POWERTOOLS_METRICS_NAMESPACE="bench",
        POWERTOOLS_LOG_LEVEL="ERROR",
        SOURCE_BUCKET="bench-source",
        ANALYSIS_BUCKET="bench-analysis",
        SOURCE_PREFIX="",
    )
    import contextlib
    import io
    import json

    import boto3
    from moto import mock_aws

    from smartthumb.local_server import http_api_event
    from smartthumb.sidecars import cache as sidecars

    with mock_aws(), contextlib.redirect_stdout(io.StringIO()) as sink:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench-source")
        s3.create_bucket(Bucket="bench-analysis")
        event = json.loads((REPO / "infra" / "events" / "analyze_s3_put.json").read_text())
        analyze = load("analyze")
        uploads = {}
        for n, path in enumerate(sorted(SAMPLES.glob("*.jpg"))):
            data = path.read_bytes()
            etag = s3.put_object(Bucket="bench-source", Key=path.name, Body=data)["ETag"].strip('"')
            record = event["Records"][0]["s3"]
            record["bucket"]["name"] = "bench-source"
            record["object"] = {"key": path.name, "eTag": etag, "size": len(data), "sequencer": f"{n + 1:018X}"}
            started = time.perf_counter()
            analyze.handler(event, Ctx())
            uploads[path.name] = (time.perf_counter() - started) * 1000

        thumb = load("thumbnail")
        os.environ["ANALYSIS_BUCKET"] = ""
        onthefly = load("thumbnail")
        rows = []
        for name in uploads:

            def get(fn, c, name=name):
                event = http_api_event("GET", f"/th?id={name}&w=200&h=300&c={c}", {"accept": "image/jpeg"})
                result = fn.handler(event, Ctx())
                assert result["statusCode"] == 200
                return result["headers"].get("X-Smartthumb-Region")

            assert get(thumb, 7) == "sidecar"
            remembered = median_ms(lambda: get(thumb, 7), args.repeat)
            sidecars.MEMO_ENTRIES = 0  # no memory: every request reads S3 or analyses
            get(onthefly, 7)  # warm the models once
            assert get(onthefly, 7) == "computed"
            rows.append(
                (
                    name,
                    uploads[name],
                    remembered,
                    median_ms(lambda: get(thumb, 7), args.repeat),
                    median_ms(lambda: get(onthefly, 7), args.repeat),
                    median_ms(lambda: get(thumb, 4), args.repeat),
                )
            )
            sidecars.MEMO_ENTRIES = 256
    del sink
    print("| image | upload analysis | c=7 sidecar remembered | c=7 sidecar read from S3 | c=7 on the fly | c=4 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, up, memo, side, fly, blind in rows:
        print(f"| {name} | {up:.0f} ms | {memo:.1f} ms | {side:.1f} ms | {fly:.1f} ms | {blind:.1f} ms |")


if __name__ == "__main__":
    main()
