"""moto's S3 server where `sam local` containers reach it, with the buckets of infra/env.json.

``sam local`` runs each function in a container on Docker's default bridge, so
``127.0.0.1`` inside it is the container. This serves S3 on the bridge's host
address (never on every interface), creates ``SOURCE_BUCKET`` and
``ANALYSIS_BUCKET`` and uploads the built-in sample images under
``SOURCE_PREFIX``, then waits for Ctrl-C::

    .venv/bin/python infra/sam-local/local_s3.py            # port 5000, as infra/env.json says
    .venv-tools/bin/sam local ... --env-vars infra/env.json --add-host host.docker.internal:host-gateway

tests/samlocal uses the same functions (loaded by path).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples"
#: An upload whose key needs URL-encoding in an S3 event (infra/events/s3_put_encoded_key.json).
ENCODED_KEY_SOURCE = "my photo été 100% a+b.jpg"


def bridge_address() -> str:
    """The host's address on Docker's default bridge (``docker network inspect bridge``)."""
    out = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    config = json.loads(out)[0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def env_parameters(path: Path = REPO / "infra" / "env.json") -> dict[str, str]:
    """The variables infra/env.json gives every function (its ``Parameters``)."""
    return json.loads(path.read_text(encoding="utf-8"))["Parameters"]


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def seed(s3: Any, params: dict[str, str]) -> None:
    """The two buckets, and the samples under SOURCE_PREFIX (chelsea.jpg also under the encoded-key name)."""
    for bucket in (params["SOURCE_BUCKET"], params["ANALYSIS_BUCKET"]):
        s3.create_bucket(Bucket=bucket)
    prefix = params.get("SOURCE_PREFIX", "")
    for image in sorted(SAMPLES.glob("*.jpg")):
        s3.upload_file(str(image), params["SOURCE_BUCKET"], prefix + image.name)
    s3.upload_file(str(SAMPLES / "chelsea.jpg"), params["SOURCE_BUCKET"], prefix + ENCODED_KEY_SOURCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", help="address to bind (default: the Docker bridge's host address)")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    host = args.host or bridge_address()
    server = ThreadedMotoServer(ip_address=host, port=args.port, verbose=False)
    server.start()
    seed(client(f"http://{host}:{args.port}"), env_parameters())
    print(f"S3 (moto) on http://{host}:{args.port}: pass --add-host host.docker.internal:host-gateway", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
