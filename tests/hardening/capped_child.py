"""Child process: run sources through one door of a function under its real memory.

``python -m tests.hardening.capped_child DOOR MEMORY_MB FILE...`` loads the
function over moto's S3, warms the door with a small photo (imports, the ONNX
models where the door uses them), then for each file: puts it in the bucket,
caps the address space and calls the handler once. One JSON line per file.

The cap: Lambda kills a function whose *resident* memory passes its size; an
idle Python process with onnxruntime loaded reserves far more *address space*
than it has resident (thread stacks, arenas), so capping the total at the
function's size would fail before any image is read. Instead, before each
call, the growth of the address space is capped at what the resident memory
may still grow: ``RLIMIT_AS = VmSize + (MEMORY_MB - VmRSS)``. Every new
allocation takes at least as much address space as resident memory, so this
is at least as strict as Lambda's limit. Each line also reports the baseline
(``rss_mb``, ``vm_mb``), the resident peak (``peak_mb``, from ``VmHWM`` after
resetting it) and the CPU time of the call (``cpu_ms``, ``resource.getrusage``:
user + system of every thread).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import resource
import sys
from pathlib import Path

BUCKET = "capped-source"
ANALYSIS_BUCKET = "capped-analysis"
PREFIX = "src/"
ANALYZE = (
    "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=1.0"
)
QUERIES = {
    "th": "/th?id={id}&w=100",
    "padded": "/th?id={id}&w=4096&h=4096",  # a small source padded to the largest canvas
    "c7": "/th?id={id}&w=100&h=100&c=7",
    "analysis": "/analysis?id={id}",
}


def _status_kb(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(field + r":\s+(\d+) kB", text)
    return int(match.group(1)) if match else 0


def _cpu_s() -> float:
    """User + system CPU of this process, every thread (the ONNX pools included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _release() -> None:
    """Hand freed heap back to the kernel, so one file's garbage is not the next one's baseline."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def _outcome(door: str, result: dict, s3, key: str) -> str:
    if door != "s3":
        status = result["statusCode"]
        body = result.get("body") or ""
        if result.get("isBase64Encoded") and status != 200:
            body = base64.b64decode(body).decode("utf-8", "replace")
        code = ""
        if status != 200:
            try:
                doc = json.loads(body)["error"]
                code = (doc.get("innererror") or {}).get("code") or doc.get("code", "")
            except (ValueError, KeyError, TypeError):
                code = body[:80]
        return f"{status} {code}".strip()
    outcome = ",".join(result.get("outcomes", []))
    try:
        doc = json.loads(s3.get_object(Bucket=ANALYSIS_BUCKET, Key=f"analysis/{key}.json")["Body"].read())
    except Exception:
        return f"{outcome} no-sidecar"
    error = doc.get("error") or {}
    return f"{outcome} {error.get('status', '')} {error.get('code', '')}".strip()


def main(door: str, memory_mb: int, files: list[str]) -> None:
    import boto3
    from moto import mock_aws
    from PIL import Image

    from smartthumb.local_server import http_api_event
    from tests.conftest import EVENTS, FakeLambdaContext, load_function

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=ANALYSIS_BUCKET)
        fn = load_function("analyze" if door == "s3" else "thumbnail")
        template = json.loads((EVENTS / "analyze_s3_put.json").read_text())

        def call(name: str, data: bytes, n: int) -> dict:
            key = PREFIX + name
            etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
            return fn.handler(make_event(key, etag, len(data), n), FakeLambdaContext(memory_limit_in_mb=memory_mb))

        def make_event(key: str, etag: str, size: int, n: int) -> dict:
            name = key.removeprefix(PREFIX)
            if door == "s3":
                event = copy.deepcopy(template)
                record = event["Records"][0]
                record["s3"]["bucket"]["name"] = BUCKET
                record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{BUCKET}"
                record["s3"]["object"] = {"key": key, "eTag": etag, "size": size, "sequencer": f"00{n:016X}"}
            elif door == "analyze":
                data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                event = http_api_event("POST", ANALYZE, {"content-type": "application/octet-stream"}, data)
            else:
                event = http_api_event("GET", QUERIES[door].format(id=name), {"accept": "*/*"})
            return event

        warm = io.BytesIO()
        Image.effect_noise((320, 240), 40).convert("RGB").save(warm, "JPEG")
        call("warm.jpg", warm.getvalue(), 0)
        _release()
        for n, path in enumerate(files, start=1):
            name = Path(path).name
            data = Path(path).read_bytes()
            key = PREFIX + name
            etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
            size = len(data)
            del data
            event = make_event(key, etag, size, n)
            ctx = FakeLambdaContext(memory_limit_in_mb=memory_mb)
            vm_kb, rss_kb = _status_kb("VmSize"), _status_kb("VmRSS")
            cap = (vm_kb + max(0, memory_mb * 1024 - rss_kb)) * 1024
            Path("/proc/self/clear_refs").write_text("5")
            cpu = _cpu_s()
            outcome: str | None = None
            result: dict = {}
            resource.setrlimit(resource.RLIMIT_AS, (cap, resource.RLIM_INFINITY))
            try:
                result = fn.handler(event, ctx)
            except MemoryError:
                outcome = "MemoryError"
            except Exception as exc:  # reported, so the parent test shows what escaped
                outcome = f"raised {type(exc).__name__}"
            finally:
                resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            cpu_ms = (_cpu_s() - cpu) * 1000
            peak_kb = _status_kb("VmHWM")
            if outcome is None:
                outcome = _outcome(door, result, s3, key)
            del event, result
            print(
                json.dumps(
                    {
                        "name": name,
                        "door": door,
                        "outcome": outcome,
                        "cpu_ms": round(cpu_ms, 1),
                        "rss_mb": round(rss_kb / 1024),
                        "vm_mb": round(vm_kb / 1024),
                        "peak_mb": round(peak_kb / 1024),
                        "allowed_growth_mb": round(memory_mb - rss_kb / 1024),
                    }
                ),
                flush=True,
            )
            s3.delete_object(Bucket=BUCKET, Key=key)
            _release()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
