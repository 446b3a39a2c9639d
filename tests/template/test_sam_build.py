"""`sam build` of the whole application, and what the built layer really contains.

* For this machine's Python (``LAYER_PYTHON`` = the running interpreter's
  version): build both functions and the layer, then run the built
  ThumbnailFunction handler once in a subprocess whose ``sys.path`` is only the
  built function, the built layer, the standard library (``python -I -S``) and
  a stand-in for what the Lambda runtime itself provides: boto3 and its
  dependencies (Powertools' Tracer imports the X-Ray SDK, which imports botocore).
* For Lambda (python3.12, x86_64 and arm64): build the layer as it deploys,
  and check size, wheel ABI and architecture, contents and models.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, run_tool, runner, tool

pytestmark = pytest.mark.slow

BUDGET_BYTES = 160 * 1024 * 1024
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}

# Runs inside the isolated interpreter: nothing but the built artefacts and the stdlib.
PROBE = r"""
import base64, importlib.util, io, json, os, sys
task, layer, runtime, events = sys.argv[1:5]
sys.path[:0] = [task, layer]
sys.path.append(runtime)
import app
from PIL import Image

class Context:
    function_name = "ThumbnailFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ThumbnailFunction"
    aws_request_id = "built-layer-probe"
    def get_remaining_time_in_millis(self):
        return 20000

out = {"responses": {}}
for name in ("th_fit.json", "th_smart_crop.json"):
    with open(os.path.join(events, name)) as fh:
        response = app.handler(json.load(fh), Context())
    image = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    out["responses"][name] = {
        "status": response["statusCode"],
        "size": list(image.size),
        "region": response["headers"].get("X-Smartthumb-Region"),
    }
out["files"] = {
    m: sys.modules[m].__file__
    for m in ("app", "smartthumb", "PIL", "numpy", "onnxruntime", "aws_lambda_powertools", "botocore")
    if m in sys.modules
}
out["boto3_origin"] = importlib.util.find_spec("boto3").origin
from smartthumb.render import png_spng
out["libspng"] = png_spng.libspng() is not None  # the PNG decoder in the layer's pyspng
print("PROBE:" + json.dumps(out))
"""


def sam_build(build_dir: Path, *resources: str, env: dict[str, str] | None = None, arch: str = "x86_64") -> None:
    args = [tool("sam"), "build", *resources, "--template", "template.yaml", "--build-dir", str(build_dir)]
    args += ["--parameter-overrides", f"Architecture={arch}"]
    result = run_tool(args, env={"LAYER_ARCH": arch, **(env or {})})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "ImagingLayer unzipped size:" in result.stdout + result.stderr


def lambda_runtime_packages(root: Path) -> Path:
    """A directory holding only what Lambda's python3.12 runtime adds to the stdlib: boto3 and its dependencies."""
    root.mkdir()
    site = Path(yaml.__file__).resolve().parents[1]  # this venv's site-packages
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        (root / name).symlink_to(site / name)
    return root


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_sam_build_for_the_local_python_runs_the_handler_from_the_built_layer(tmp_path: Path) -> None:
    local = f"{sys.version_info.major}.{sys.version_info.minor}"
    build = tmp_path / "build"
    sam_build(build, env={"LAYER_PYTHON": local})
    for name, source in (("ThumbnailFunction", "thumbnail"), ("AnalyzeFunction", "analyze")):
        assert (build / name / "app.py").read_bytes() == (REPO / "functions" / source / "app.py").read_bytes()
    built = runner().load_template(build / "template.yaml")
    assert built["Resources"]["ThumbnailFunction"]["Properties"]["CodeUri"] == "ThumbnailFunction"
    layer = build / "ImagingLayer" / "python"

    store = tmp_path / "store"
    shutil.copytree(REPO / "layers" / "imaging" / "python" / "smartthumb" / "samples", store)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LOCAL_STORE": str(store),
        "SOURCE_BUCKET": "",
        "ANALYSIS_BUCKET": "",
        # Room for the first model load on a busy machine: the point is that it runs.
        "ANALYSIS_TIME_BUDGET_MS": "120000",
        "POWERTOOLS_METRICS_NAMESPACE": "smartthumb",
        "HOME": str(tmp_path),
    }
    runtime = lambda_runtime_packages(tmp_path / "runtime")
    probe = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            PROBE,
            str(build / "ThumbnailFunction"),
            str(layer),
            str(runtime),
            str(REPO / "infra" / "events"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in probe.stdout.splitlines() if line.startswith("PROBE:")]
    assert probe.returncode == 0 and lines, probe.stdout[-3000:] + probe.stderr[-3000:]
    out = json.loads(lines[-1][len("PROBE:") :])
    assert out["responses"]["th_fit.json"] == {"status": 200, "size": [200, 200], "region": None}
    smart = out["responses"]["th_smart_crop.json"]
    assert (smart["status"], smart["size"]) == (200, [300, 100])
    assert smart["region"] == "computed"  # numpy + onnxruntime + the models, all from the layer
    roots = {"app": build / "ThumbnailFunction", "botocore": runtime}
    for module, path in out["files"].items():
        assert Path(path).is_relative_to(roots.get(module, layer)), (module, path)
    assert not {"smartthumb", "PIL", "numpy", "onnxruntime", "aws_lambda_powertools"} - out["files"].keys()
    assert Path(out["boto3_origin"]).is_relative_to(runtime)  # boto3 is the runtime's, never the layer's
    assert out["libspng"]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_lambda_layer_build(tmp_path: Path, arch: str) -> None:
    build = tmp_path / "build"
    sam_build(build, "ImagingLayer", arch=arch)
    layer = build / "ImagingLayer" / "python"

    size = tree_bytes(layer)
    print(f"ImagingLayer {arch}: {size / 2**20:.1f} MiB unzipped")
    assert size <= BUDGET_BYTES

    extensions = list(layer.rglob("*.so"))
    assert any(p.name.startswith("_imaging.cpython-312-") for p in extensions)
    assert any(p.name.startswith("_pyspng_c.cpython-312-") for p in extensions)  # render.py's libspng
    assert not [p for p in extensions if "cpython-3" in p.name and "cpython-312-" not in p.name]
    for lib in (layer / "onnxruntime" / "capi").glob("*.so*"):
        header = lib.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[arch], lib

    for absent in ("boto3", "botocore", "s3transfer", "bin", "smartthumb/samples", "onnxruntime/transformers"):
        assert not (layer / absent).exists(), absent
    assert not list(layer.rglob("tests"))
    assert (layer / "aws_xray_sdk").is_dir()  # Powertools' Tracer needs it on Lambda

    models = REPO / "layers" / "imaging" / "models"
    for model in models.glob("*.onnx"):
        built = layer / "smartthumb_models" / model.name
        assert hashlib.sha256(built.read_bytes()).digest() == hashlib.sha256(model.read_bytes()).digest()
    assert (layer / "smartthumb" / "config.py").exists()
