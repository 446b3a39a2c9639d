"""Shared helpers of the template tests: the tool venv and the template as data.

Tests that run a tool of ``.venv-tools`` (sam, cfn-lint, checkov) are marked
``slow``: ``pytest -m "not slow"`` runs on a bare project venv.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.rie import run

REPO = run.REPO
TOOLS = REPO / ".venv-tools" / "bin"


def tool(name: str) -> str:
    """A command of the tool venv; its absence is a set-up error, not a reason to skip."""
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash infra/setup-tools.sh` (infra/dev.sh does it during set-up)")
    return str(path)


def run_tool(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1", **(env or {})}
    return subprocess.run(args, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def sam_build(build_dir: Path, *resources: str) -> subprocess.CompletedProcess[str]:
    """``sam build`` as a user runs it (no parameters: both layers are built whatever Architecture)."""
    args = [tool("sam"), "build", *resources, "--template", "template.yaml", "--build-dir", str(build_dir)]
    result = run_tool(args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml with CloudFormation short tags in their long form (``{"Ref": ...}``, ``{"Fn::If": ...}``)."""
    return run.load_template(REPO / "template.yaml")
