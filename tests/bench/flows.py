"""Which modules one ``/th?c=7`` request and one S3 upload pass through, measured.

Runs both flows in process (moto S3, the real models for the upload) with a
profiler hook that records every call from one module of ``smartthumb`` or
``functions/*/app.py`` into another. A warm-up of each flow runs first, so
imports do not count. Prints the modules in the order first entered, how often
each was entered, whom each calls, and the calls that close a cycle (back to a
caller reached again: a callback such as ``on_metric``, or a module cycle).

Usage: ``.venv/bin/python tests/bench/flows.py [--repo PATH] [--check]`` (``--repo``:
another checkout to measure, e.g. an export of an older commit; ``--check``: exit 1
when either flow has a cycle, as ``tests/handlers/test_flows.py`` runs it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any


def module_of(filename: str, roots: list[tuple[Path, str]]) -> str | None:
    path = Path(filename)
    for root, label in roots:
        if path.is_relative_to(root):
            rel = path.relative_to(root).with_suffix("")
            return label + ".".join(rel.parts)
    return None


def trace(run: Callable[[], Any], roots: list[tuple[Path, str]]) -> list[tuple[str, str]]:
    """Every call from one of our modules into another one, in order: (caller, callee)."""
    calls: list[tuple[str, str]] = []

    def caller_module(frame: FrameType | None) -> str | None:
        while frame is not None:  # skip library frames (a callback from boto3, Pillow...)
            mod = module_of(frame.f_code.co_filename, roots)
            if mod:
                return mod
            frame = frame.f_back
        return None

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        callee = module_of(frame.f_code.co_filename, roots)
        caller = caller_module(frame.f_back)
        if callee and caller and callee != caller:
            calls.append((caller, callee))

    sys.setprofile(hook)
    threading.setprofile(hook)
    try:
        run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return calls


def report(title: str, calls: list[tuple[str, str]]) -> int:
    """Print the modules in the order first entered, whom each calls, and the calls
    that close a cycle (the callee, directly or not, calls back into the caller);
    return how many calls close a cycle."""
    order: list[str] = []
    for caller, callee in calls:
        for mod in (caller, callee):
            if mod not in order:
                order.append(mod)
    edges = list(dict.fromkeys(calls))

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(b for a, b in edges if a == node)
        return False

    back = [(a, b) for a, b in edges if reaches(b, a)]
    entries = {m: sum(1 for _, b in calls if b == m) for m in order}
    print(f"## {title}: {len(order)} modules, {len(edges)} distinct calls between them, {len(back)} in a cycle")
    for i, mod in enumerate(order, 1):
        callees = sorted({b for a, b in edges if a == mod}, key=order.index)
        print(f"{i:3}. {mod}  (entered {entries[mod]}x) -> {', '.join(callees) or '-'}")
    for a, b in back:
        print(f"     cycle: {a} -> {b}")
    return len(back)


class Ctx:
    function_name = "f"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30000


def load(repo: Path, name: str) -> ModuleType:
    path = repo / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app_{uuid.uuid4().hex}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]))
    parser.add_argument("--check", action="store_true", help="exit 1 when a flow calls back into a module it came from")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    package = repo / "layers" / "imaging" / "python"
    sys.path.insert(0, str(package))
    os.environ.update(
        AWS_ACCESS_KEY_ID="t",
        AWS_SECRET_ACCESS_KEY="t",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="1",
        POWERTOOLS_METRICS_NAMESPACE="t",
        SOURCE_BUCKET="flows-source",
        ANALYSIS_BUCKET="flows-analysis",
    )
    import contextlib
    import io

    import boto3
    from moto import mock_aws

    roots = [(package / "smartthumb", "smartthumb."), (repo / "functions", "functions.")]
    samples = package / "smartthumb" / "samples"
    event = json.loads((repo / "infra" / "events" / "analyze_s3_put.json").read_text())

    def upload_event(s3: Any, name: str, n: int) -> dict[str, Any]:
        data = (samples / name).read_bytes()
        etag = s3.put_object(Bucket="flows-source", Key=name, Body=data)["ETag"].strip('"')
        record = event["Records"][0]["s3"]
        record["bucket"]["name"] = "flows-source"
        record["object"] = {"key": name, "eTag": etag, "size": len(data), "sequencer": f"{n:018X}"}
        return json.loads(json.dumps(event))

    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="flows-source")
        s3.create_bucket(Bucket="flows-analysis")
        analyze = load(repo, "analyze")
        analyze.handler(upload_event(s3, "chelsea.jpg", 1), Ctx())  # warm-up
        warm = upload_event(s3, "coffee.jpg", 2)
        upload = trace(lambda: analyze.handler(warm, Ctx()), roots)

        from smartthumb.local_server import http_api_event

        thumb = load(repo, "thumbnail")

        def get(name: str) -> None:
            e = http_api_event("GET", f"/th?id={name}&w=200&h=300&c=7", {"accept": "image/jpeg"})
            result = thumb.handler(e, Ctx())
            assert result["statusCode"] == 200 and result["headers"].get("X-Smartthumb-Region") == "sidecar"

        get("chelsea.jpg")  # warm-up
        request = trace(lambda: get("coffee.jpg"), roots)

    cycles = report("/th?c=7 (sidecar in S3)", request) + report("S3 upload (ObjectCreated:Put)", upload)
    return 1 if args.check and cycles else 0


if __name__ == "__main__":
    raise SystemExit(main())
