"""Model files: lookup order, SHA-256 check, session reuse, the input-size patch."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import smartthumb
from smartthumb.analysis import models
from smartthumb.config import Settings

REPO_MODELS = Path(__file__).resolve().parents[2] / "layers" / "imaging" / "models"


def test_committed_files_match_the_recorded_sums() -> None:
    for model in (models.YUNET, models.U2NETP, models.BLAZEFACE):
        assert hashlib.sha256((REPO_MODELS / model.filename).read_bytes()).hexdigest() == model.sha256


def test_extract_script_check_mode_agrees() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO_MODELS / "extract_models.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("OK") == 3


def test_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    package = Path(smartthumb.__file__).resolve().parent
    models.configure(Settings.from_env({"SMARTTHUMB_MODELS_DIR": str(tmp_path)}))
    assert models.model_dirs() == [
        tmp_path,
        package / "models",
        package.parent / "smartthumb_models",
        Path(smartthumb.__file__).resolve().parents[2] / "models",
    ]
    models.configure(Settings())
    assert models.model_dirs()[0] == package / "models"
    assert models.find_model(models.YUNET) == REPO_MODELS / models.YUNET.filename


def test_env_dir_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shutil.copy(REPO_MODELS / models.YUNET.filename, tmp_path)
    models.configure(Settings.from_env({"SMARTTHUMB_MODELS_DIR": str(tmp_path)}))
    assert models.find_model(models.YUNET) == tmp_path / models.YUNET.filename


def test_tampered_model_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = bytearray((REPO_MODELS / models.YUNET.filename).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / models.YUNET.filename).write_bytes(bytes(data))
    models.configure(Settings.from_env({"SMARTTHUMB_MODELS_DIR": str(tmp_path)}))
    with pytest.raises(models.ModelUnavailable) as info:
        models.read_verified(models.YUNET)
    assert info.value.status == 503
    assert str(tmp_path) not in info.value.message  # no paths in public messages


def test_missing_model_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = models.ModelFile("no_such_model.onnx", "0" * 64, "input", 32)
    with pytest.raises(models.ModelUnavailable):
        models.find_model(missing)


def test_patch_changes_only_the_declared_dims() -> None:
    data = (REPO_MODELS / models.U2NETP.filename).read_bytes()
    patched = models.resize_square_input(data, models.U2NETP, 256)
    assert len(patched) == len(data)
    assert sum(a != b for a, b in zip(data, patched, strict=True)) == 6
    assert models.resize_square_input(data, models.U2NETP, 320) is data
    with pytest.raises(ValueError):
        models.resize_square_input(data, models.U2NETP, 300)
    with pytest.raises(models.ModelUnavailable):
        models.resize_square_input(b"not a model", models.U2NETP, 256)


@pytest.mark.model
def test_sessions_are_created_once_with_one_thread() -> None:
    first = models.get_session(models.YUNET)
    assert models.get_session(models.YUNET) is first
    assert first.get_providers() == ["CPUExecutionProvider"]
    options = first.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert [i.shape for i in first.get_inputs()] == [[1, 3, 640, 640]]


@pytest.mark.model
@pytest.mark.slow
def test_patched_saliency_model_runs_at_the_new_side() -> None:
    session = models.get_session(models.U2NETP, 256)
    assert session.get_inputs()[0].shape == [1, 3, 256, 256]
    (out,) = session.run([session.get_outputs()[0].name], {"input.1": np.zeros((1, 3, 256, 256), np.float32)})
    assert out.shape == (1, 1, 256, 256)


@pytest.mark.model
@pytest.mark.slow
def test_preload_creates_and_warms_both_sessions() -> None:
    models.clear_sessions()
    assert models.load_times == {}
    seconds = models.preload()
    assert set(models.load_times) == {(models.YUNET.filename, 640), (models.U2NETP.filename, 320)}
    assert seconds >= sum(models.load_times.values())
    # Later lookups reuse them.
    session = models.get_session(models.U2NETP)
    models.preload()
    assert models.get_session(models.U2NETP) is session
