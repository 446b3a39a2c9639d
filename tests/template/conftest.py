"""Shared helpers of the template tests: the tool venv and the template as data."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
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


def runner() -> ModuleType:
    """infra/rie/run.py, loaded by path (its template reader understands CloudFormation tags)."""
    name = "smartthumb_rie_runner"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "infra" / "rie" / "run.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml with CloudFormation short tags in their long form (``{"Ref": ...}``, ``{"Fn::If": ...}``)."""
    return runner().load_template(REPO / "template.yaml")
