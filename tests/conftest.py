"""Shared fixtures: a Lambda context, function modules loaded fresh, moto S3."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "infra" / "events"
SAMPLES = REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples"


#: Azure's exact answer to an out-of-range smart-crop ratio (DESIGN.md): a test vector, kept literal.
AZURE_RANGE_ERROR = {
    "error": {
        "code": "InvalidRequest",
        "message": "Analyze query is invalid.",
        "innererror": {
            "code": "BadArgument",
            "message": "'smartcrops-aspect-ratios' aspect ratio is not in allowed range [0.75 to 1.8]",
        },
    }
}


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# ---------------------------------------------------------------- marker and network guards

#: Hosts a test outside tests/unit may connect to (pytest-socket): this machine only.
LOOPBACK = ["127.0.0.1", "::1"]
#: Layers whose tests open no socket at all (pytest-socket blocks socket creation there).
NO_NETWORK_DIRS = (REPO / "tests" / "unit",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Unit tests may not create a socket; every other test may connect to loopback only."""
    for item in items:
        path = Path(str(item.path))
        if any(path.is_relative_to(folder) for folder in NO_NETWORK_DIRS):
            item.add_marker(pytest.mark.disable_socket)
        elif item.get_closest_marker("allow_hosts") is None:
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK))


def _onnx_session_class() -> type | None:
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - onnxruntime is a runtime dependency
        return None
    return onnxruntime.InferenceSession


@pytest.fixture(autouse=True)
def _model_runs_need_the_marker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Markers mean what pyproject says: a test that runs an ONNX model is marked ``model``.

    Counts ``InferenceSession.run`` calls during an unmarked test and fails it
    afterwards (raising inside ``run`` would be swallowed where analysis falls
    back to a blind crop).
    """
    session_class = None if request.node.get_closest_marker("model") else _onnx_session_class()
    runs: list[str] = []
    if session_class is not None:
        real_run = session_class.run

        def counted_run(self: object, *args: object, **kwargs: object) -> object:
            runs.append(request.node.nodeid)
            return real_run(self, *args, **kwargs)

        counted_run.model_marker_guard = True  # type: ignore[attr-defined]
        monkeypatch.setattr(session_class, "run", counted_run)
    yield
    if runs:
        pytest.fail(f"ran the ONNX models {len(runs)} times without the `model` marker", pytrace=False)


@pytest.fixture
def no_model_preload(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """AnalyzeFunction's init without loading and warming the ONNX sessions.

    For tests that inject a fake analyzer: the warm-up runs both models, which
    is a ``model`` test's business. Returns the ``warm`` flag of each preload call.
    """
    calls: list[bool] = []

    def preload(warm: bool = True, settings: object = None) -> float:
        calls.append(warm)
        return 0.0

    monkeypatch.setattr("smartthumb.analysis.models.preload", preload)
    return calls


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never reach a real AWS endpoint from a test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "smartthumb-tests")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` afresh (it reads settings at import)."""
    path = REPO / "functions" / name / "app.py"
    mod_name = f"_smartthumb_fn_{name}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def function_loader() -> Callable[[str], ModuleType]:
    return load_function


@pytest.fixture
def s3() -> Iterator[object]:
    """A moto S3 client (in process)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def stored_upload(s3: Any, monkeypatch: pytest.MonkeyPatch, key: str, body: bytes) -> str:
    """Buckets ``src`` (holding ``key``) and ``ana``, named to the functions' settings; the object's ETag."""
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="ana")
    etag = s3.put_object(Bucket="src", Key=key, Body=body)["ETag"].strip('"')
    monkeypatch.setenv("SOURCE_BUCKET", "src")
    monkeypatch.setenv("ANALYSIS_BUCKET", "ana")
    return etag


@contextlib.contextmanager
def serve_subprocess(store: Path, env: dict[str, str]) -> Iterator[str]:
    """``smartthumb serve --port 0 --store STORE`` in a subprocess; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartthumb.cli", "serve", "--port", "0", "--store", str(store)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, f"server did not start: {line!r}"
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


#: EXIF orientation -> the transpose that makes the *stored* pixels from the upright ones.
STORE_FOR_ORIENTATION: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def as_stored(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores so that EXIF ``orientation`` shows ``upright``."""
    transpose = STORE_FOR_ORIENTATION[orientation]
    return upright if transpose is None else upright.transpose(transpose)


def image_bytes(image: object, fmt: str = "JPEG", **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)  # type: ignore[attr-defined]
    return buf.getvalue()
