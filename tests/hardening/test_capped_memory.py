"""Each issue-11 class at the size of its finding, through every door of both
functions, in a child process whose address space is capped to the function's
memory (see ``capped_child`` for how the cap is set and why).

Doors: ``/th`` and ``c=7`` and ``GET /analysis`` and the analyze endpoint on
the ThumbnailFunction (1,024 MB in template.yaml), the S3 upload event on the
AnalyzeFunction (2,048 MB). Each source must end as a 4xx (an error sidecar
for the upload) or a correct 200, never a ``MemoryError``, an exception out
of the handler or a dead process. CPU times are printed (``-s``), not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hardening.floods import findings

THUMBNAIL_MB = 1024
ANALYZE_MB = 2048
#: Classes that may decode (a correct 200, or a 415 for their patched, truncated scans)
#: when the function's memory allows; all others must be refused from the bytes. At
#: 2,048 MB the AnalyzeFunction has room for all three (measured peaks 1.0-1.3 GB).
MAY_DECODE = {"progressive-444.jpg", "rgba16-100mpx.png"}
MAY_DECODE_IN_ANALYZE_FUNCTION = MAY_DECODE | {"progressive-cmyk.jpg"}

DOORS = [
    pytest.param("th", THUMBNAIL_MB, marks=pytest.mark.slow, id="th"),
    pytest.param("c7", THUMBNAIL_MB, marks=[pytest.mark.slow, pytest.mark.model], id="c7"),
    pytest.param("analysis", THUMBNAIL_MB, marks=[pytest.mark.slow, pytest.mark.model], id="analysis"),
    pytest.param("analyze", THUMBNAIL_MB, marks=[pytest.mark.slow, pytest.mark.model], id="analyze-endpoint"),
    pytest.param("s3", ANALYZE_MB, marks=[pytest.mark.slow, pytest.mark.model], id="analyze-function"),
]


def run_capped(door: str, memory_mb: int, paths: list[Path], extra_env: dict[str, str] | None = None) -> list[dict]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "imaging" / "python"), str(REPO)]),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "SOURCE_BUCKET": "capped-source",
        "SOURCE_PREFIX": "src/",
        "ANALYSIS_BUCKET": "capped-analysis",
        "ANALYSIS_PREFIX": "analysis/",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        **(extra_env or {}),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hardening.capped_child", door, str(memory_mb), *map(str, paths)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"name"')]


@pytest.fixture(scope="module")
def finding_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("findings")
    paths = []
    for flood in findings():
        path = folder / flood.name
        path.write_bytes(flood.data)
        paths.append(path)
    return paths


@pytest.mark.parametrize(("door", "memory_mb"), DOORS)
def test_every_class_is_answered_within_the_function_memory(finding_files, door: str, memory_mb: int) -> None:
    rows = run_capped(door, memory_mb, finding_files)
    print(f"\n{door} under {memory_mb} MB:")
    for row in rows:
        print(
            f"  {row['name']:22} {row['outcome']:42} cpu {row['cpu_ms']:7.1f} ms"
            f"  rss {row['rss_mb']} -> peak {row['peak_mb']} MB (growth allowed {row['allowed_growth_mb']} MB)"
        )
    assert [r["name"] for r in rows] == [p.name for p in finding_files]
    for row in rows:
        outcome = row["outcome"]
        assert not outcome.startswith(("MemoryError", "raised")), row
        assert row["peak_mb"] <= memory_mb, row
        if door == "s3":
            if row["name"] in MAY_DECODE_IN_ANALYZE_FUNCTION:
                assert outcome.startswith(("analysed", "failed-permanently 4")), row
            else:
                assert outcome == "failed-permanently 413 SourceTooLarge", row
        elif door in ("analyze", "analysis"):
            # Azure's format: 400 with InvalidImageSize (413) or InvalidImageFormat (415) inside.
            if row["name"] in MAY_DECODE:
                assert outcome.startswith(("200", "400 Invalid")), row
            else:
                assert outcome == "400 InvalidImageSize", row
        elif row["name"] in MAY_DECODE:
            assert outcome.split()[0] in ("200", "413", "415"), row
        else:
            assert outcome == "413 SourceTooLarge", row
