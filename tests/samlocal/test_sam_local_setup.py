"""infra/sam-local's set-up scripts: dockerd.sh's failures carry their reason; the base image is cached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import SAM_LOCAL


def tools_without_docker(bin_dir: Path) -> dict[str, str]:
    """A PATH with what dockerd.sh uses, minus docker and dockerd (and anything put in bin_dir)."""
    bin_dir.mkdir(exist_ok=True)
    for tool in ("dirname", "mkdir", "flock", "id", "tail", "seq", "sleep", "nohup", "cat", "rm", "kill"):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    return {"PATH": str(bin_dir), "HOME": str(bin_dir.parent)}


def dockerd_start(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **env,
        "SMARTTHUMB_DOCKERD_PIDFILE": str(tmp_path / "dockerd.pid"),
        "SMARTTHUMB_DOCKERD_LOG": str(tmp_path / "dockerd.log"),
    }
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SAM_LOCAL / "dockerd.sh"), "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dockerd_start_without_dockerd_fails_and_says_so(tmp_path: Path) -> None:
    result = dockerd_start(tmp_path, tools_without_docker(tmp_path / "bin"))
    assert result.returncode != 0
    assert "dockerd is not installed" in result.stderr


def test_dockerd_start_reports_why_the_daemon_died(tmp_path: Path) -> None:
    env = tools_without_docker(tmp_path / "bin")
    fake = tmp_path / "bin" / "dockerd"
    fake.write_text("#!/bin/sh\necho 'failed to start daemon: no overlay2 here' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = dockerd_start(tmp_path, env)
    assert result.returncode != 0
    if os.geteuid() == 0:
        assert "dockerd exited" in result.stderr
        assert "failed to start daemon: no overlay2 here" in result.stderr  # the daemon's own reason
    else:
        assert "only root can start one" in result.stderr


@pytest.mark.docker
def test_base_image_is_cached_and_lambda_like(base_image: str) -> None:
    again = subprocess.run(
        ["bash", str(SAM_LOCAL / "build-base-image.sh")], capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[-1] == base_image
    assert "docker import" not in again.stderr and "debootstrap" not in again.stderr  # a cache hit builds nothing

    inspect = subprocess.run(
        ["docker", "image", "inspect", base_image, "--format", "{{json .Config}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config = json.loads(inspect.stdout)
    assert config["WorkingDir"] == "/var/task"
    assert "LAMBDA_TASK_ROOT=/var/task" in config["Env"]

    # What the runtime sees: Python 3.12 at /var/lang, Lambda's module order, boto3 from /var/runtime.
    probe = (
        "import json, sys, boto3, awslambdaric\n"
        "path = [p for p in sys.path if p.startswith(('/var/task', '/opt', '/var/runtime'))]\n"
        "print(json.dumps({'version': sys.version_info[:2], 'executable': sys.executable,"
        " 'boto3': boto3.__file__, 'path': path}))\n"
    )
    # The variables /var/runtime/bootstrap exports, then the interpreter it runs.
    script = "eval \"$(grep '^export' /var/runtime/bootstrap)\" && exec /var/lang/bin/python3.12 -"
    run = subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", "none", "--entrypoint", "/bin/sh", base_image, "-c", script],
        input=probe,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["version"] == [3, 12]
    assert seen["executable"] == "/var/lang/bin/python3.12"
    assert seen["boto3"] == "/var/runtime/boto3/__init__.py"
    assert seen["path"] == ["/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python", "/var/runtime"]
