"""One ``/th?c=7`` request and one S3 upload flow one way through the modules.

Runs ``tests/bench/flows.py --check`` (both handlers in process, moto S3, the
real models), which traces every call between modules and exits 1 when a
callee calls back into a module the flow came from (a handler-defined
callback, a module cycle).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.model]


def test_request_and_upload_flow_one_way() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "flows.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    headings = [line for line in done.stdout.splitlines() if line.startswith("## ")]
    assert len(headings) == 2
    assert all(line.endswith(", 0 in a cycle") for line in headings), headings
    # Both flows reach the core: the sidecar read for c=7, the analysis for the upload.
    assert "smartthumb.sidecars.cache" in done.stdout
    assert "smartthumb.analysis.analyzer" in done.stdout
