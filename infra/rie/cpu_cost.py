"""CPU time per invocation of the *built* functions, and what a million of them cost on Lambda.

Runs the ``sam build`` output (``--built``, default ``.aws-sam/build``) the way
``infra/rie/run.py --built`` does (emulator, Python 3.12, isolated, moto S3) and
reads the runtime process's CPU time (``/proc``: user + system, all threads)
around each invocation, after one warm-up, so cold starts are not counted. CPU
time is what a shared machine disturbs least; Lambda bills wall time, which for
CPU-bound work is about CPU time ÷ the vCPU share of the memory size (1 vCPU at
1,769 MB, proportional below, AWS's documented ratio): that estimate is printed
beside each measurement with the cost of a million invocations at the given
price per GB-second plus the request price.

Cases: ``/th`` renders (``w=200&h=200``) of two samples (one with a face: the
saliency model is then not needed) and of a 12 MP photo (4032×3024, synthesised
from a sample as tests/bench/bench_render.py does); ``c=7`` served from the
sidecar; the upload analysis of each (each upload a new image: nothing cached).

    .venv-tools/bin/sam build
    .venv/bin/python -m infra.rie.cpu_cost [--built DIR] [--repeat 20] [--memory 1024] [--analyze-memory 2048]
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from infra.rie import run

#: us-east-1 Lambda prices (x86_64; arm64 is 20 % less per GB-s): USD per GB-second and per request.
PRICE_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_REQUEST = 0.20 / 1_000_000
FULL_VCPU_MB = 1769


def photo_12mp() -> bytes:
    """A 4032×3024 JPEG that compresses like a camera photo (upscaled sample, grain, slight blur)."""
    base = Image.open(run.SAMPLES / "rocket.jpg").convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((4032, 3024), 12).convert("RGB")
    image = Image.blend(base, noise, 0.06).filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def th_event(query: str) -> dict[str, Any]:
    event = json.loads((run.REPO / "infra" / "events" / "th_fit.json").read_text())
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&"))
    return event


def upload_event(key: str, etag: str, sequencer: str) -> dict[str, Any]:
    event = json.loads((run.REPO / "infra" / "events" / "analyze_s3_put.json").read_text())
    event["Records"][0]["s3"]["object"].update({"key": key, "eTag": etag, "sequencer": sequencer})
    return event


def cpu_ms(fn: run.LocalLambda, make_event: Callable[[int], dict[str, Any]], repeat: int) -> float:
    """Mean CPU milliseconds over ``repeat`` invocations after one warm-up (the kernel counts CPU
    time in 10 ms ticks: the mean of many is finer than any one); each must succeed."""
    fn.invoke(make_event(repeat))
    total = 0.0
    for i in range(repeat):
        event = make_event(i)
        before = fn.runtime_cpu_seconds()
        result = fn.invoke(event)
        total += fn.runtime_cpu_seconds() - before
        payload = result.payload
        ok = isinstance(payload, dict) and not result.is_error and payload.get("statusCode", 200) == 200
        if not ok or payload.get("outcomes", ["analysed"]) != ["analysed"]:
            raise run.RunnerError(f"invocation failed: {str(payload)[:500]}\n{fn.logs()[-2000:]}")
    return total / repeat * 1000


def variant(jpeg: bytes, i: int) -> bytes:
    """The image with one pixel changed: new bytes, new ETag, so nothing can be served from a cache."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    image.putpixel((0, 0), (i % 256, 0, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def cost_per_million(cpu: float, memory_mb: int, arch: str) -> float:
    billed_s = cpu / 1000 / min(1.0, memory_mb / FULL_VCPU_MB)
    return 1_000_000 * (billed_s * memory_mb / 1024 * PRICE_GB_S[arch] + PRICE_REQUEST)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--built", type=Path, default=run.BUILT)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--memory", type=int, default=1024, help="ThumbnailFunction MB for the estimate")
    parser.add_argument("--analyze-memory", type=int, default=2048, help="AnalyzeFunction MB for the estimate")
    args = parser.parse_args(argv)

    s3 = run.LocalS3().start()
    try:
        env = run.function_spec("AnalyzeFunction", template_path=args.built / "template.yaml").environment
        s3.prepare(env, seed_samples=True)
        bucket, prefix, client = env["SOURCE_BUCKET"], env["SOURCE_PREFIX"], s3.client()
        client.put_object(Bucket=bucket, Key=prefix + "photo12mp.jpg", Body=photo_12mp())
        sources = {
            "astronaut.jpg (512×512, a face)": "astronaut.jpg",
            "rocket.jpg (640×427, no face)": "rocket.jpg",
            "12 MP photo (no face)": "photo12mp.jpg",
        }
        rows = []
        with (
            run.LocalLambda("AnalyzeFunction", built=args.built, s3_endpoint=s3.endpoint) as analyze,
            run.LocalLambda("ThumbnailFunction", built=args.built, s3_endpoint=s3.endpoint) as thumbnail,
        ):
            for label, name in sources.items():
                original = client.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
                bodies = [variant(original, i) for i in range(args.repeat + 1)]

                def upload(i: int, name: str = name, bodies: list[bytes] = bodies) -> dict[str, Any]:
                    key = f"{prefix}cost/{i}/{name}"
                    etag = client.put_object(Bucket=bucket, Key=key, Body=bodies[i])["ETag"].strip('"')
                    return upload_event(key, etag, f"0062A1B2C3D4E5F6{i:02X}")

                rows.append((f"upload analysis, {label}", cpu_ms(analyze, upload, args.repeat), args.analyze_memory))
                rows.append(
                    (
                        f"/th w=200&h=200, {label}",
                        cpu_ms(thumbnail, lambda i, n=name: th_event(f"id=cost/{i}/{n}&w=200&h=200"), args.repeat),
                        args.memory,
                    )
                )
                rows.append(
                    (
                        f"/th w=200&h=100&c=7 from the sidecar, {label}",
                        cpu_ms(
                            thumbnail, lambda i, n=name: th_event(f"id=cost/{i % 2}/{n}&w=200&h=100&c=7"), args.repeat
                        ),
                        args.memory,
                    )
                )
    finally:
        s3.stop()

    print("| invocation | CPU ms (mean) | memory | est. billed ms | USD per million, x86_64 | arm64 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, cpu, memory in rows:
        billed = cpu / min(1.0, memory / FULL_VCPU_MB)
        x86, arm = (cost_per_million(cpu, memory, arch) for arch in ("x86_64", "arm64"))
        print(f"| {label} | {cpu:.0f} | {memory} MB | {billed:.0f} | {x86:.2f} | {arm:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
