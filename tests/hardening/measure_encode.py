"""CPU time of a hopeless output-size encode (a 4096x4096 noise WebP under the 4.3 MB cap).

``PYTHONPATH=layers/imaging/python .venv/bin/python -m tests.hardening.measure_encode``
prints the outcome and the CPU milliseconds (HARDENING.md quotes it).
"""

from __future__ import annotations

import time

from PIL import Image

from smartthumb.errors import ThumbError
from smartthumb.render import encode


def main() -> None:
    noise = Image.merge("RGB", [Image.effect_noise((4096, 4096), 90 + 10 * k) for k in range(3)])
    started = time.process_time()
    try:
        encode(noise, "WEBP", 85, None, 4_300_000)
        outcome = "200"
    except ThumbError as exc:
        outcome = f"{exc.status} {exc.code}"
    print(outcome, round((time.process_time() - started) * 1000), "ms CPU")


if __name__ == "__main__":
    main()
