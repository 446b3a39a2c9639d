"""`sam local start-api` serving the template's HTTP API to a client on this machine.

The workflow of README's ``sam local`` section: ``sam build``, then
``sam local start-api --env-vars infra/env.json`` with moto standing in for S3;
the client is urllib on 127.0.0.1. ``--warm-containers EAGER`` starts one
container per function up front, so every request after the first is warm.
Stopping it (Ctrl-C, as a user does) must end the containers without runtime
errors in the log.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .conftest import REPO, SAM, SamLocal, free_port

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ANALYZE = (
    "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=0.9,1.33"
)


AZURE_KEY = json.loads((Path(__file__).resolve().parents[2] / "infra" / "env.json").read_text())["ThumbnailFunction"][
    "AZURE_API_KEY"
]


def request(
    port: int, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, deadline_s: float = 300) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            pytest.fail(f"sam local start-api exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"sam local start-api did not listen on 127.0.0.1:{port}:\n{log.read_text()[-3000:]}")


def default_sigint() -> None:
    """Ctrl-C must reach SAM: a shell's background job (nohup ... &, as CI may run) ignores SIGINT,
    and the SAM CLI would inherit that and never stop on it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, as a user stops it; SAM then stops and removes its containers."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("sam local start-api did not stop within 120 s of Ctrl-C")


def test_start_api_serves_th_and_the_analyze_endpoint_over_http(sam_local: SamLocal, tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    log = tmp_path / "start-api.log"
    args = [str(SAM), "local", "start-api", *sam_local.common()]
    args += ["--host", "127.0.0.1", "--port", str(port), "--warm-containers", "EAGER"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=REPO, env=sam_local.env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=default_sigint
        )
    try:
        started = time.monotonic()
        wait_for_port(port, process, log)
        listening = time.monotonic()
        status, headers, body = request(port, "/th?id=astronaut.jpg&w=200&h=200", headers={"Accept": "image/webp"})
        # Reported, not asserted (pytest -s or -rA shows it).
        print(f"start-api: listening after {listening - started:.1f} s, first /th {time.monotonic() - listening:.1f} s")
        assert status == 200, body[:500]
        image = Image.open(io.BytesIO(body))
        assert (image.format, image.size) == ("WEBP", (200, 200))
        assert headers["Content-Type"] == "image/webp"
        assert headers["Cache-Control"] == "public, max-age=86400"

        warm = time.monotonic()
        status, _, body = request(port, "/th?id=no-such-image.jpg&w=200")
        print(f"start-api: a warm /th {time.monotonic() - warm:.2f} s")
        assert status == 404, body[:500]
        assert json.loads(body)["error"]["code"]

        status, _, body = request(port, "/th?id=astronaut.jpg&w=0")
        assert status == 400, body[:500]

        by_url = json.dumps({"url": "s3://smartthumb-source/img/coffee.jpg"}).encode()
        key = {"Ocp-Apim-Subscription-Key": AZURE_KEY}  # infra/env.json's key for the analysis routes
        status, _, body = request(port, ANALYZE, data=by_url, headers={"Content-Type": "application/json", **key})
        assert status == 200, body[:500]
        assert_smart_crops(json.loads(body), (600, 400))

        # The stored analysis: the sidecar the call above writes (in the background), or computed again.
        status, headers, body = request(port, "/analysis?id=coffee.jpg", headers=key)
        assert status == 200, body[:500]
        assert headers["X-Smartthumb-Analysis"] in ("sidecar", "computed")
        assert json.loads(body)["metadata"] == {"width": 600, "height": 400}
        # Not here: a binary request body (azure_analyze_binary.json's). SAM's local HTTP API
        # base64-encodes only a REST API's BinaryMediaTypes, so it answers 502 to a JPEG body;
        # `sam local invoke` with that event covers it (infra/sam-local/README.md).
    finally:
        code = stop(process) if process.poll() is None else process.returncode
    text = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, text[-3000:]
    assert "Failed to get next invocation" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def assert_smart_crops(answer: dict[str, Any], size: tuple[int, int]) -> None:
    assert answer["metadata"] == {"width": size[0], "height": size[1]}
    values = answer["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.9, 1.33]
    for value in values:
        box = value["boundingBox"]
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["w"] <= size[0] and box["y"] + box["h"] <= size[1]
