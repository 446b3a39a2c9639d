"""Finding, verifying and loading the ONNX models, once per process.

Model files are looked up, in this order (first directory holding the file
wins; see :func:`model_dirs`):

1. ``Settings.models_dir`` (``SMARTTHUMB_MODELS_DIR``) when set (tests, local
   overrides), as last given to :func:`configure`;
2. ``<smartthumb package>/models/`` (a layer that copies them into the package);
3. ``<site dir>/smartthumb_models/``, the directory beside the ``smartthumb``
   package: the layer build copies ``layers/imaging/models/*.onnx`` there, so
   on Lambda this is ``/opt/python/smartthumb_models/``;
4. the repository's ``layers/imaging/models/``
   (``Path(smartthumb.__file__).parents[2] / "models"``).

Every file's SHA-256 is checked before onnxruntime sees it: a truncated or
swapped model fails loudly (:class:`ModelUnavailable`) instead of producing
plausible nonsense.

Sessions use the CPU provider, one intra-op and one inter-op thread (a 1 GB
Lambda has well under one vCPU; more threads only contend), sequential
execution and ``ORT_ENABLE_ALL`` graph optimisation (measured: U²-Net-p
240 ms per run against 335 ms with basic or no optimisation). The memory
arena stays on but the memory *pattern* is off: with the pattern on, the
first two runs in a fresh process cost ~0.6-0.85 s each instead of ~0.35 s.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import smartthumb
from smartthumb.config import Settings
from smartthumb.errors import ThumbError

log = logging.getLogger(__name__)

#: The folder searched first (``Settings.models_dir``; see :func:`configure`).
_models_dir = ""

#: Threads per session (intra-op and inter-op).
THREADS = 1


class ModelUnavailable(ThumbError):
    """A model file is missing, corrupt or cannot be loaded (503: the
    service is misconfigured or degraded, not the client's fault)."""

    status = 503
    code = "ModelUnavailable"


@dataclass(frozen=True, slots=True)
class ModelFile:
    filename: str
    sha256: str
    input_name: str
    input_side: int


YUNET = ModelFile(
    filename="face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    input_name="input",
    input_side=640,
)
U2NETP = ModelFile(
    filename="u2netp.onnx",
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    input_name="input.1",
    input_side=320,
)
#: BlazeFace short range, the crowd pass's second detector (:mod:`.face_blaze`); loaded on first use,
#: not preloaded: only photos with a crowd of tiny faces run it.
BLAZEFACE = ModelFile(
    filename="blazeface_short_range.onnx",
    sha256="2d83bf713a7bf67b1d8d65b3d4eb297a4f1029bce51cf0d9f7723046648f10a7",
    input_name="input",
    input_side=128,
)

#: Reported as Azure's ``modelVersion``: changes whenever a model or the
#: post-processing changes the boxes.
MODEL_VERSION = "smartthumb-yunet2023mar-u2netp-8"


def configure(settings: Settings) -> None:
    """Search ``settings.models_dir`` first (sessions already loaded stay as they are)."""
    global _models_dir
    _models_dir = settings.models_dir


def model_dirs() -> list[Path]:
    """Directories searched for model files, in order (see module docstring)."""
    dirs: list[Path] = []
    if _models_dir:
        dirs.append(Path(_models_dir))
    package = Path(smartthumb.__file__).resolve().parent
    dirs.append(package / "models")
    dirs.append(package.parent / "smartthumb_models")
    dirs.append(package.parents[1] / "models")
    return dirs


def find_model(model: ModelFile) -> Path:
    for directory in model_dirs():
        candidate = directory / model.filename
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in model_dirs())
    log.error("model %s not found; searched %s", model.filename, searched)
    raise ModelUnavailable("the analysis model is not available")


def read_verified(model: ModelFile) -> bytes:
    """The model's bytes, after checking their SHA-256."""
    path = find_model(model)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.sha256:
        log.error("model %s has SHA-256 %s, expected %s", path, digest, model.sha256)
        raise ModelUnavailable("the analysis model is not available")
    return data


def resize_square_input(data: bytes, model: ModelFile, side: int) -> bytes:
    """Rewrite a model's fixed ``side x side`` input (and output) dimensions.

    U²-Net-p computes every internal resize from ``Shape`` ops, so it runs at
    any multiple of 32; only the declared graph input/output dims pin it to
    320. In the protobuf those are ``Dimension{dim_value: 320}`` messages,
    bytes ``0a 03 08 c0 02``; any side in 128..16383 encodes as a two-byte
    varint too, so the patch keeps every length prefix valid. The count is
    checked so a different file cannot be patched silently.
    """
    if side == model.input_side:
        return data
    if side % 32 or not 128 <= side < 16384:
        raise ValueError("side must be a multiple of 32 in 128..16383")

    def dim(value: int) -> bytes:
        return b"\x0a\x03\x08" + bytes([(value & 0x7F) | 0x80, value >> 7])

    old, new = dim(model.input_side), dim(side)
    if data.count(old) != 6:
        raise ModelUnavailable("the analysis model is not the expected file")
    return data.replace(old, new)


_lock = threading.Lock()
_sessions: dict[tuple[str, int], Any] = {}
#: Seconds spent creating each session in this process (for logs and the benchmark).
load_times: dict[tuple[str, int], float] = {}


def session_options() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = THREADS
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = False
    # No spinning threads burning the Lambda's CPU share between runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def get_session(model: ModelFile, side: int | None = None) -> Any:
    """The process-wide ``InferenceSession`` for ``model`` (created on first use)."""
    side = side or model.input_side
    key = (model.filename, side)
    session = _sessions.get(key)
    if session is not None:
        return session
    with _lock:
        session = _sessions.get(key)
        if session is not None:
            return session
        started = time.perf_counter()
        data = resize_square_input(read_verified(model), model, side)
        try:
            import onnxruntime as ort

            session = ort.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            log.exception("cannot create a session for %s", model.filename)
            raise ModelUnavailable("the analysis model is not available") from exc
        load_times[key] = time.perf_counter() - started
        log.info("loaded %s (side %d) in %.0f ms", model.filename, side, load_times[key] * 1000)
        _sessions[key] = session
        return session


def preload(warm: bool = True, settings: Settings | None = None) -> float:
    """Create the YuNet and U²-Net-p sessions now and, with ``warm``, run each once on zeros.

    Meant for a function's init phase (module import on Lambda): the first
    U²-Net-p run in a process grows the memory arena and costs 0.1-0.6 s more
    than later runs; paying it at init keeps it off the first request.
    Returns the seconds spent.
    """
    import numpy as np

    if settings is not None:
        configure(settings)
    started = time.perf_counter()
    for model in (YUNET, U2NETP):
        session = get_session(model)
        if warm:
            side = model.input_side
            blob = np.zeros((1, 3, side, side), dtype=np.float32)
            session.run([session.get_outputs()[0].name], {model.input_name: blob})
    return time.perf_counter() - started


def clear_sessions() -> None:
    """Forget every session (tests, and the benchmark's load-time measurement)."""
    with _lock:
        _sessions.clear()
        load_times.clear()
