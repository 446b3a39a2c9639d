"""A bounded mutation fuzzer over decode -> plan -> render -> encode.

Not a test (pytest collects only ``test_*.py``): a developer runs it for as
long as they like. It needs nothing beyond the project's own dependencies.

    .venv/bin/python tests/fuzz/fuzz_render.py --minutes 5
    .venv/bin/python tests/fuzz/fuzz_render.py --iterations 2000 --seed 7 --out /tmp/fuzz-findings

Seeds are the generated hostile corpus (``tests/hardening/corpus.py``) plus
the sample photos. Each iteration mutates one seed (bit flips, interesting
bytes, header-number inflation, chunk duplication and deletion, truncation,
splicing two seeds; PNG chunk CRCs are then usually repaired), picks a ``/th`` query, and runs the same steps as
``ThumbnailService.thumbnail``: ``open_image`` (which also counts JPEG scans), ``plan_thumbnail``,
``limits.check_plan``, ``execute``, ``encode``.

Allowed outcomes: an image no larger than ``MAX_OUTPUT_BYTES`` that decodes,
or a 4xx :class:`~smartthumb.errors.ThumbError`. Anything else is a finding,
saved under ``--out`` with its traceback: any other exception, a
``MemoryError`` (the process runs under an address-space limit,
``--memory-mb``), a 5xx, or an iteration slower than ``--timeout`` seconds
(``SIGALRM``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import resource
import signal
import sys
import time
import traceback
import warnings
import zlib
from collections import Counter
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "layers" / "imaging" / "python"))

from PIL import Image  # noqa: E402

from smartthumb import limits, render  # noqa: E402
from smartthumb.accept import accepted_formats  # noqa: E402
from smartthumb.config import Settings  # noqa: E402
from smartthumb.errors import ThumbError  # noqa: E402
from smartthumb.geometry import plan_thumbnail  # noqa: E402
from smartthumb.request import parse_query_string, parse_th  # noqa: E402
from tests.hardening.corpus import MAX_ANIMATION_FRAMES, MAX_SOURCE_PIXELS, corpus  # noqa: E402
from tests.hardening.floods import flood_seeds  # noqa: E402

QUERIES = (
    "w=64&h=64",
    "w=64&h=64&p=0",
    "w=50&h=80&c=4",
    "w=300",
    "h=40&pcl=ff000080",
    "w=33&h=17&c=4&qlt=20",
    "w=2000&h=2000",
)
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x40)


class Timeout(Exception):
    """Raised by SIGALRM inside an iteration that ran too long."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Timeout


def seeds() -> list[bytes]:
    out = [c.data for c in corpus() if c.data]
    out += flood_seeds()
    samples = REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples"
    for path in sorted(samples.glob("*.jpg")):
        with Image.open(path) as im:
            small = im.copy()
            small.thumbnail((160, 160))  # keep iterations fast: mutate small real photos
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=80, progressive=path.stem < "c")
        out.append(buf.getvalue())
        buf = io.BytesIO()
        small.save(buf, "PNG")
        out.append(buf.getvalue())
    # 8-bit PNGs big enough that a 64 px thumbnail takes the strip-reducing
    # path of the libspng decoder (png_spng), in each colour type it handles.
    noise = Image.merge("RGB", [Image.effect_noise((360, 240), 40)] * 3)
    for mode in ("L", "LA", "RGB", "RGBA"):
        buf = io.BytesIO()
        noise.convert(mode).save(buf, "PNG", compress_level=1)
        out.append(buf.getvalue())
    # Prefer small seeds: the large bombs are kept, they are just rarer.
    return sorted(out, key=len)


MAGIC = {
    "png": (b"\x89PNG",),
    "jpeg": (b"\xff\xd8",),
    "gif": (b"GIF8",),
    "webp": (b"RIFF",),
    "tiff": (b"II*\x00", b"MM\x00*"),
}


def mutate(data: bytes, pool: list[bytes], rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 1, 2, 3, 6))):
        if not buf:
            buf = bytearray(rng.choice(pool)[:64])
            continue
        op = rng.randrange(8)
        at = rng.randrange(len(buf))
        if op == 0:  # bit flip
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1:  # interesting byte
            buf[at] = rng.choice(INTERESTING)
        elif op == 2:  # inflate a number near the header (sizes, counts, lengths)
            at = rng.randrange(min(len(buf), 96))
            width = rng.choice((1, 2, 4))
            buf[at : at + width] = b"\xff" * width if rng.random() < 0.5 else b"\x7f" + b"\xff" * (width - 1)
        elif op == 3:  # duplicate a chunk
            end = min(len(buf), at + rng.randrange(1, 256))
            buf[at:at] = buf[at:end]
        elif op == 4:  # delete a chunk
            del buf[at : at + rng.randrange(1, 64)]
        elif op == 5:  # truncate
            del buf[rng.randrange(len(buf)) :]
        elif op == 6:  # splice with another seed
            other = rng.choice(pool)
            if other:
                cut = rng.randrange(len(other))
                buf[at:] = other[cut:]
        else:  # random bytes
            buf[at : at + 4] = rng.randbytes(4)
    return fix_png_crcs(bytes(buf)) if rng.random() < 0.8 else bytes(buf)


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC of a PNG, so mutations get past Pillow's CRC
    check and reach the header parser and the decoder."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out = bytearray(data)
    pos = 8
    while pos + 8 <= len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = zlib.crc32(bytes(out[pos + 4 : end])).to_bytes(4, "big")
        pos = end + 4
    return bytes(out)


def run_one(data: bytes, query: str, settings: Settings) -> str:
    """The service's steps on one input: the outcome as a short label."""
    request = parse_th(parse_query_string(query), settings, require_id=False)
    opened = render.open_image(data, settings)
    accept = "image/webp" if len(data) % 3 == 0 else "*/*"
    fmt = render.choose_format(opened, accepted_formats(accept), settings, request.pad_color)
    plan = plan_thumbnail(opened.size, request.width, request.height, request.crop, request.pad, None)
    limits.check_plan(plan, settings)
    image = render.execute(opened, plan, request.pad_color)
    body = render.encode(image, fmt, request.quality or settings.default_quality, opened.icc_profile, 200_000)
    if len(body) > 200_000:
        raise AssertionError(f"output of {len(body)} bytes is over the cap")
    with Image.open(io.BytesIO(body)) as check:
        check.load()
        if check.size != (plan.canvas.width, plan.canvas.height):
            raise AssertionError(f"output {check.size} is not the planned {plan.canvas}")
    return f"200 {fmt}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="stop after this long (default 1)")
    parser.add_argument("--iterations", type=int, default=0, help="stop after this many (default: time only)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one iteration may take")
    parser.add_argument("--memory-mb", type=int, default=2048, help="address-space limit of this process")
    parser.add_argument("--out", default="fuzz-findings", help="folder for findings (created on the first one)")
    parser.add_argument("--only", choices=sorted(MAGIC), help="mutate only the seeds of this format")
    args = parser.parse_args(argv)

    # Pillow warns about corrupt EXIF and the like on every other input; the
    # render code turns the warnings that matter into errors itself.
    warnings.filterwarnings("ignore")
    limit = args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)
    settings = Settings(
        max_source_pixels=MAX_SOURCE_PIXELS, max_animation_frames=MAX_ANIMATION_FRAMES, max_output_bytes=200_000
    )
    rng = random.Random(args.seed)
    pool = seeds()
    if args.only:
        pool = [seed for seed in pool if seed.startswith(MAGIC[args.only])]
    out = Path(args.out)
    outcomes: Counter[str] = Counter()
    findings: dict[str, int] = {}
    slowest = (0.0, "")
    deadline = time.monotonic() + args.minutes * 60
    n = 0
    print(f"fuzz_render: seed {args.seed}, {len(pool)} seeds, {args.minutes} min, {args.memory_mb} MB", flush=True)
    while time.monotonic() < deadline and (not args.iterations or n < args.iterations):
        n += 1
        data = mutate(rng.choice(pool[: max(8, int(len(pool) * rng.random()))]), pool, rng)
        query = rng.choice(QUERIES)
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            label = run_one(data, query, settings)
            signal.setitimer(signal.ITIMER_REAL, 0)
        except ThumbError as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            label = f"{exc.status} {exc.code}"
            if exc.status >= 500:
                label = "FINDING " + label
        except BaseException as exc:  # everything else is what we are looking for
            signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(exc, KeyboardInterrupt):
                break
            kind = "Timeout" if isinstance(exc, Timeout) else type(exc).__name__
            label = f"FINDING {kind}"
            where = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{kind} at {Path(where.filename).name}:{where.lineno}"
            findings[key] = findings.get(key, 0) + 1
            if findings[key] <= 3:
                out.mkdir(parents=True, exist_ok=True)
                name = hashlib.sha256(data).hexdigest()[:16]
                (out / f"{name}.bin").write_bytes(data)
                (out / f"{name}.txt").write_text(f"query: {query}\n\n" + "".join(traceback.format_exception(exc)))
        elapsed = time.monotonic() - started
        if elapsed > slowest[0]:
            slowest = (elapsed, f"{query} on {len(data)} bytes -> {label}")
        outcomes[label] += 1
        if n % 2000 == 0:
            found = sum(v for k, v in outcomes.items() if k.startswith("FINDING"))
            print(f"  {n} iterations, {found} findings", flush=True)

    print(f"\n{n} iterations, seed {args.seed}")
    for label, count in outcomes.most_common():
        print(f"  {count:7d}  {label}")
    print(f"slowest iteration: {slowest[0] * 1000:.0f} ms ({slowest[1]})")
    if findings:
        print(f"\nfindings (saved under {out}/):")
        for key, count in sorted(findings.items(), key=lambda kv: -kv[1]):
            print(f"  {count:5d}  {key}")
        return 1
    print("no findings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
