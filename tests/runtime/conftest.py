"""The runner in infra/rie/run.py, loaded as a module for the runtime tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_runner() -> ModuleType:
    """infra/rie/run.py is a script, not a package: load it by path once."""
    name = "smartthumb_rie_runner"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "infra" / "rie" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
