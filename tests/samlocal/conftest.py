"""The SAM CLI itself, in Docker: `sam build`, `sam local invoke`, `sam local start-api`.

What a user of ``sam local`` runs, with two local stand-ins (infra/sam-local/README.md):

* the function image's base is infra/sam-local/build-base-image.sh's image
  (``--invoke-image IMAGE --skip-pull-image``), since AWS's
  public.ecr.aws/lambda/python:3.12 cannot be pulled here;
* S3 is moto's server, bound to the Docker bridge's host address (the function
  containers sit on that bridge), reached as ``host.docker.internal`` through
  ``--add-host``, exactly as infra/env.json names it.

Containers get ``--container-dns 127.0.0.1``: nothing inside them can resolve
a name beyond ``/etc/hosts``, so a template that lost its S3 endpoint fails
here instead of addressing AWS. The SAM CLI runs with telemetry off, fake
credentials and a config directory whose last version check is now (no PyPI
lookup). When Docker cannot start, the fixtures fail with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "infra" / "events"
SAMPLES = REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples"
SAM_LOCAL = REPO / "infra" / "sam-local"
SAM = REPO / ".venv-tools" / "bin" / "sam"
ENV_JSON = REPO / "infra" / "env.json"


def fail_with(what: str, result: subprocess.CompletedProcess[str]) -> None:
    pytest.fail(f"{what} (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


@pytest.fixture(scope="session")
def docker() -> None:
    """A Docker daemon that answers; started by infra/sam-local/dockerd.sh when none does."""
    result = subprocess.run(
        ["bash", str(SAM_LOCAL / "dockerd.sh"), "start"], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        fail_with("Docker cannot start, so `sam local` cannot run", result)


@pytest.fixture(scope="session")
def base_image(docker: None) -> str:
    """The local python3.12 base image (built during set-up; a cache hit here)."""
    result = subprocess.run(
        ["bash", str(SAM_LOCAL / "build-base-image.sh")], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        fail_with("infra/sam-local/build-base-image.sh failed", result)
    return result.stdout.split()[-1]


def load_local_s3() -> ModuleType:
    """infra/sam-local/local_s3.py (a script, not a package), loaded by path once."""
    name = "smartthumb_sam_local_s3"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SAM_LOCAL / "local_s3.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


local_s3 = load_local_s3()
ENCODED_KEY_SOURCE: str = local_s3.ENCODED_KEY_SOURCE


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Widen the suite's loopback-only socket guard (tests/conftest.py), for these
    tests only, by the one address they create themselves: the host's side of
    Docker's bridge, where moto listens for the function containers. (Without a
    daemon yet, loopback only: the ``docker`` fixture then fails with the reason.)"""
    here = Path(__file__).parent
    ours = [item for item in items if Path(str(item.path)).is_relative_to(here)]
    if not ours:
        return
    hosts = ["127.0.0.1", "::1"]
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        hosts.append(local_s3.bridge_address())
    for item in ours:
        item.add_marker(pytest.mark.allow_hosts(hosts))


@pytest.fixture(scope="session")
def bridge_host(docker: None) -> str:
    """The host's address on Docker's default bridge, where the function containers are."""
    try:
        return local_s3.bridge_address()
    except (subprocess.CalledProcessError, ValueError, KeyError, IndexError) as error:
        pytest.fail(f"no address on Docker's bridge network: {error}")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class MotoS3:
    """moto's S3 server on the bridge address, with the buckets and samples of the env file."""

    host: str
    port: int
    server: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        return local_s3.client(self.url)


@pytest.fixture(scope="session")
def env_file(tmp_path_factory: pytest.TempPathFactory, moto: MotoS3) -> Path:
    """infra/env.json with only the S3 endpoint's port changed (moto listens on a free one)."""
    data = json.loads(ENV_JSON.read_text(encoding="utf-8"))
    endpoint = data["Parameters"]["AWS_ENDPOINT_URL_S3"]
    assert endpoint.startswith("http://host.docker.internal:"), endpoint
    data["Parameters"]["AWS_ENDPOINT_URL_S3"] = f"http://host.docker.internal:{moto.port}"
    path = tmp_path_factory.mktemp("sam-env") / "env.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def env_params() -> dict[str, str]:
    return local_s3.env_parameters(ENV_JSON)


@pytest.fixture(scope="session")
def moto(bridge_host: str, env_params: dict[str, str]) -> Iterator[MotoS3]:
    from moto.server import ThreadedMotoServer

    port = free_port(bridge_host)
    server = ThreadedMotoServer(ip_address=bridge_host, port=port, verbose=False)
    server.start()
    s3 = MotoS3(bridge_host, port, server)
    local_s3.seed(s3.client(), env_params)
    yield s3
    server.stop()


@pytest.fixture(scope="session")
def sam_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The SAM CLI's environment: no telemetry, no version check, fake credentials, us-east-1."""
    app_dir = tmp_path_factory.mktemp("sam-app-dir")
    (app_dir / "metadata.json").write_text(
        json.dumps({"telemetryEnabled": False, "lastVersionCheck": time.time()}), encoding="utf-8"
    )
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "DOCKER_HOST")}
    return {
        **keep,
        "SAM_CLI_TELEMETRY": "0",
        # How long SAM waits for a container's emulator to accept connections (default 20 s):
        # a busy 2-core machine starting a dozen containers at once needs more.
        "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": "120",
        "__SAM_CLI_APP_DIR": str(app_dir),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(app_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(app_dir / "aws-credentials"),
    }


def sam(args: list[str], env: dict[str, str], *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    if not SAM.exists():
        pytest.fail(f"{SAM} is missing: run `bash infra/setup-tools.sh` (infra/dev.sh does it during set-up)")
    return subprocess.run(
        [str(SAM), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory, sam_env: dict[str, str]) -> Path:
    """`sam build` of template.yaml, as a user runs it before `sam local`."""
    build = tmp_path_factory.mktemp("sam-build") / "build"
    result = sam(["build", "--template", "template.yaml", "--build-dir", str(build)], sam_env)
    if result.returncode != 0:
        fail_with("sam build failed", result)
    return build / "template.yaml"


@dataclass
class SamLocal:
    """The options every `sam local` command of these tests shares."""

    template: Path
    env_file: Path
    image: str
    env: dict[str, str]

    def common(self) -> list[str]:
        return [
            "--template",
            str(self.template),
            "--env-vars",
            str(self.env_file),
            "--invoke-image",
            self.image,
            "--skip-pull-image",
            # Docker's name for the bridge's host address, as README's sam local section has it.
            "--add-host",
            "host.docker.internal:host-gateway",
            "--container-dns",
            "127.0.0.1",
        ]

    def invoke(self, function: str, event: Path, tmp: Path) -> Invocation:
        """One `sam local invoke FUNCTION --event EVENT`; fails the test when the CLI fails."""
        return self.start(function, event, tmp).result()

    def start(self, function: str, event: Path, tmp: Path) -> Running:
        """Starts `sam local invoke` without waiting: invokes started together share one image build
        (SAM rebuilds its emulation image for a template-local layer on every invoke, under a lock
        that lets the waiting invokes reuse the build in progress)."""
        if not SAM.exists():
            pytest.fail(f"{SAM} is missing: run `bash infra/setup-tools.sh` (infra/dev.sh does it during set-up)")
        out = tmp / f"{function}-{event.stem}-{time.monotonic_ns()}"
        args = [str(SAM), "local", "invoke", function, "--event", str(event), *self.common()]
        with open(f"{out}.out", "wb") as stdout, open(f"{out}.err", "wb") as stderr:
            process = subprocess.Popen(args, cwd=REPO, env=self.env, stdout=stdout, stderr=stderr)
        return Running(f"sam local invoke {function} --event {event.name}", process, out)


@dataclass
class Running:
    """A `sam local invoke` in progress; its output goes to files beside each other."""

    what: str
    process: subprocess.Popen[bytes]
    out: Path

    def result(self, timeout: float = 600) -> Invocation:
        code = self.process.wait(timeout=timeout)
        stdout = Path(f"{self.out}.out").read_text(encoding="utf-8", errors="replace")
        stderr = Path(f"{self.out}.err").read_text(encoding="utf-8", errors="replace")
        completed = subprocess.CompletedProcess(self.process.args, code, stdout, stderr)
        if code != 0:
            fail_with(f"{self.what} failed", completed)
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if not lines:
            fail_with(f"{self.what} printed no answer", completed)
        return Invocation(json.loads(lines[-1]), stderr)


@dataclass
class Invocation:
    payload: dict[str, Any]
    log: str

    def body(self) -> bytes:
        body = self.payload.get("body") or ""
        return base64.b64decode(body) if self.payload.get("isBase64Encoded") else body.encode()


@pytest.fixture(scope="session")
def sam_local(built_template: Path, env_file: Path, base_image: str, moto: MotoS3, sam_env: dict[str, str]) -> SamLocal:
    return SamLocal(built_template, env_file, base_image, sam_env)


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sidecar(moto: MotoS3, env_params: dict[str, str], source_key: str) -> dict[str, Any] | None:
    client = moto.client()
    key = f"{env_params['ANALYSIS_PREFIX']}{source_key}.json"
    with contextlib.suppress(client.exceptions.NoSuchKey):
        return json.loads(client.get_object(Bucket=env_params["ANALYSIS_BUCKET"], Key=key)["Body"].read())
    return None
