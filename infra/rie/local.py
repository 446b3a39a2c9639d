"""What the emulator runner starts and finds: the emulator binary, a Python of Lambda's
version, the runtime's own packages, free ports, and moto's S3 server (:class:`LocalS3`)."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.rie.template import REGION, REPO, RunnerError

SAMPLES = REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples"
#: Lambda's runtime for template.yaml's functions, and what stands in for its /var/runtime.
LAMBDA_PYTHON = "3.12"
RUNTIME_PACKAGES = REPO / ".venv-tools" / "lambda-runtime" / f"python{LAMBDA_PYTHON}"


def find_rie() -> Path:
    """The emulator binary for this machine: $SMARTTHUMB_RIE, else the one in .venv-tools' aws-sam-cli."""
    explicit = os.environ.get("SMARTTHUMB_RIE")
    if explicit:
        return Path(explicit)
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    hits = sorted((REPO / ".venv-tools").glob(f"lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    if not hits:
        raise RunnerError("aws-lambda-rie not found: run `bash infra/setup-tools.sh` (installs aws-sam-cli)")
    return hits[-1]


def find_python(version: str = LAMBDA_PYTHON) -> str:
    """An interpreter of exactly ``version``: $SMARTTHUMB_LAMBDA_PYTHON, ``pythonX.Y`` on PATH,
    else the newest ``X.Y.*`` in pyenv's versions folder (``pyenv root``, $PYENV_ROOT or ~/.pyenv)."""
    candidates = [os.environ.get("SMARTTHUMB_LAMBDA_PYTHON", ""), shutil.which(f"python{version}") or ""]
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip())
    for root in filter(None, roots):
        found = sorted(
            Path(root).glob(f"versions/{version}.*/bin/python{version}"),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parents[1].name.split(".")],
        )
        candidates += [str(p) for p in reversed(found)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise RunnerError(f"no Python {version} found (PATH, pyenv's versions folder): set SMARTTHUMB_LAMBDA_PYTHON")


def runtime_packages() -> Path:
    """What Lambda's python3.12 runtime puts on ``sys.path`` after the layer (its /var/runtime)."""
    if not (RUNTIME_PACKAGES / "awslambdaric").is_dir():
        raise RunnerError(f"{RUNTIME_PACKAGES} is missing: run `bash infra/setup-tools.sh`")
    return RUNTIME_PACKAGES


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RunnerError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RunnerError(f"nothing listens on 127.0.0.1:{port}")


# --- S3 --------------------------------------------------------------------------------


class LocalS3:
    """moto's S3 server on a free 127.0.0.1 port, with the buckets the function expects."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3:
        self._server.start()
        wait_for_port(self.port, time.monotonic() + 10)
        # moto's backends are process-wide: without a reset, a second server in the same
        # process (another test module) would start with the first one's buckets and objects.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def prepare(self, environment: Mapping[str, str], *, seed_samples: bool = False) -> None:
        """Create SOURCE_BUCKET and ANALYSIS_BUCKET; optionally upload the sample images under SOURCE_PREFIX."""
        s3 = self.client()
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in {environment.get("SOURCE_BUCKET", ""), environment.get("ANALYSIS_BUCKET", "")} - {""}:
            if name not in existing:
                s3.create_bucket(Bucket=name)
        if seed_samples and environment.get("SOURCE_BUCKET"):
            for image in sorted(SAMPLES.glob("*.jpg")):
                s3.upload_file(
                    str(image), environment["SOURCE_BUCKET"], environment.get("SOURCE_PREFIX", "") + image.name
                )
