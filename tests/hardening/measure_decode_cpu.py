"""Estimated against measured decode CPU for the genuine classes (the figures in HARDENING.md).

``PYTHONPATH=layers/imaging/python:. .venv/bin/python -m tests.hardening.measure_decode_cpu [NAME...]``

For each file of :data:`tests.hardening.genuine.CLASSES` (generated, nothing
read from disk): ``structure.decode_cpu_ms``'s estimate, then the CPU
(``resource.getrusage``, this process) of the analysis decode
(``decode_for_analysis``, to 640 px) and of a ``/th?w=100`` decode, with the
budget off. The budget's constants must stay above every measured figure.
"""

from __future__ import annotations

import resource
import sys

from smartthumb import render, structure
from smartthumb.analysis.analyzer import decode_for_analysis
from smartthumb.config import Settings
from smartthumb.geometry import CropMode, plan_thumbnail
from tests.hardening.genuine import CLASSES


def _cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def main(names: list[str]) -> None:
    settings = Settings(function_memory_mb=4096, max_decode_cpu_ms=0)
    print(f"{'class':28} {'MiB':>5} {'estimate':>9} {'analysis':>9} {'th w=100':>9}  (ms of CPU)")
    for name in names or list(CLASSES):
        data = CLASSES[name]()
        estimate = structure.decode_cpu_ms(structure.scan(data, 100), len(data))
        start = _cpu_ms()
        decode_for_analysis(data, settings)
        analysis = _cpu_ms() - start
        start = _cpu_ms()
        opened = render.open_image(data, settings)
        plan = plan_thumbnail(opened.size, 100, None, CropMode.NONE, False, None)
        render.execute(opened, plan, (255, 255, 255, 255), None)
        th = _cpu_ms() - start
        print(f"{name:28} {len(data) / 2**20:5.1f} {estimate:9d} {analysis:9.0f} {th:9.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
