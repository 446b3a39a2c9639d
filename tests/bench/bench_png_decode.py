"""The PNG decode alone: IDAT inflate by each zlib, and libspng's rows, plain or from png_inflate's stream.

    .venv/bin/python tests/bench/bench_png_decode.py /tmp/stbench/12mp.png [--reps 9] [--rounds 3]

The PNG is bench_render.py's 12mp.png (it writes it into its --workdir).
``zlib-ng`` is measured when installed (``pip install zlib-ng==1.1.0``; not
a dependency). CPU time, medians of --reps, a line per round.
"""

from __future__ import annotations

import argparse
import io
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from smartthumb.config import Settings
from smartthumb.render import open_image, png_inflate, png_spng


def cpu_ms(f: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.process_time()
        f()
        times.append(time.process_time() - start)
    return sorted(times)[reps // 2] * 1000


def inflate(module: Any, data: bytes) -> None:
    view, pos, inflater = memoryview(data), 8, module.decompressobj()
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            inflater.decompress(view[pos + 8 : pos + 8 + length])
        pos += 12 + length


def decode(data: bytes, inflater: Any) -> None:
    png_inflate._isal = inflater  # False: libspng reads the PNG itself
    src = png_spng._spng_source(open_image(data, Settings()))
    assert src is not None
    png_spng._spng_decode(src, 0, src.height, 64, lambda y, strip: None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("png", type=Path)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = args.png.read_bytes()
    Image.open(io.BytesIO(data)).load()  # warm Pillow
    modules: dict[str, Any] = {f"zlib {zlib.ZLIB_RUNTIME_VERSION}": zlib}
    try:
        from zlib_ng import zlib_ng

        modules[f"zlib-ng {zlib_ng.ZLIBNG_VERSION}"] = zlib_ng
    except ImportError:
        pass
    from isal import isal_zlib

    modules["isal"] = isal_zlib
    for _ in range(args.rounds):
        times = {name: cpu_ms(lambda m=m: inflate(m, data), args.reps) for name, m in modules.items()}
        inflates = "  ".join(f"{name} {ms:.0f}" for name, ms in times.items())
        print(f"IDAT inflate ms: {inflates}")
        plain = cpu_ms(lambda: decode(data, False), args.reps)
        line = [f"libspng rows ms: plain {plain:.0f}"]
        for name, m in modules.items():
            if m is not zlib:
                stored = cpu_ms(lambda m=m: decode(data, m), args.reps)
                line.append(f"stored from {name} {stored:.0f} ({stored / plain:.2f})")
        print("  ".join(line))


if __name__ == "__main__":
    main()
