"""What ``sam build`` produces, run the way Lambda's python3.12 runtime runs it.

One ``sam build`` (no parameters, as a user runs it) builds both functions and
both architectures' layers. Then:

* each layer is checked as it deploys: size, wheel ABI, the ELF machine of
  every shared object, contents, models, the SDK it pins;
* the built template is checked to pick, for each ``Architecture``, the layer
  built for it;
* both functions run from ``.aws-sam/build``-style output under the real Lambda
  Runtime Interface Emulator on a Python 3.12 interpreter, isolated
  (``python -I -S``: only the function code, the x86_64 layer and a stand-in for
  the runtime's own packages, whose botocore is too old for the sidecar writes,
  are on ``sys.path``), against moto's S3 (and SSM for the signing key). Every
  event file in ``infra/events/`` must give its expected answer.

A layer missing a module (a dev-only import in a core module, a dropped pin)
fails the functions' init, so every event check below fails.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from PIL import Image

from infra.rie import run

from .conftest import REPO, sam_build

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

EVENTS = REPO / "infra" / "events"
SAMPLES = run.SAMPLES
LAYERS = {"ImagingLayerX86": "x86_64", "ImagingLayerArm64": "arm64"}
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}
TRIPLET = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
BUDGET_BYTES = 175 * 2**20  # layers/imaging/Makefile's LAYER_BUDGET_MB
BOTOCORE_SERVICES = {"s3", "ssm", "secretsmanager", "sts"}
# infra/events/th_signed.json is signed with this key (infra/DEPLOY.md, "Running locally").
SIGNING_KEY = "smartthumb-local-signing-key"
SIGNING_PARAM = "/smartthumb/local-signing-key"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("sam") / "build"
    result = sam_build(build)
    sizes = re.findall(r"ImagingLayer unzipped size: .*", result.stdout + result.stderr)
    assert len(sizes) == 2, sizes  # both layers, whatever Architecture will be deployed
    print("\n".join(sizes))
    return build


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def pins() -> dict[str, str]:
    lines = (REPO / "layers" / "imaging" / "requirements.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    return {name.strip().lower().replace("-", "_"): version.strip() for name, version in pairs}


# --- the layers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("layer_id", "arch"), LAYERS.items())
def test_each_layer_is_built_for_its_architecture(built: Path, layer_id: str, arch: str) -> None:
    layer = built / layer_id / "python"
    size = tree_bytes(layer)
    print(f"{layer_id} ({arch}): {size / 2**20:.1f} MiB unzipped")
    assert size <= BUDGET_BYTES

    shared = [p for p in layer.rglob("*.so*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    assert len(shared) > 20  # Pillow, numpy, onnxruntime, pyspng and their bundled libraries
    wrong = [p for p in shared if int.from_bytes(p.read_bytes()[18:20], "little") != ELF_MACHINE[arch]]
    assert not wrong, wrong
    extensions = [p.name for p in shared if ".cpython-" in p.name]
    assert any(name.startswith("_imaging.cpython-312-") for name in extensions)
    assert any(name.startswith("_pyspng_c.cpython-312-") for name in extensions)  # render's libspng
    assert any(name.startswith("isal_zlib.cpython-312-") for name in extensions)  # its PNG inflate
    assert all(f".cpython-312-{TRIPLET[arch]}.so" in name for name in extensions), extensions

    for absent in ("bin", "smartthumb/samples", "onnxruntime/transformers"):
        assert not (layer / absent).exists(), absent
    assert not list(layer.rglob("tests"))
    assert (layer / "aws_xray_sdk").is_dir()  # Powertools' Tracer needs it on Lambda

    models = REPO / "layers" / "imaging" / "models"
    for model in models.glob("*.onnx"):
        copy = layer / "smartthumb_models" / model.name
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(model.read_bytes()).digest()


@pytest.mark.parametrize("layer_id", LAYERS)
def test_each_layer_holds_exactly_its_pins_and_its_own_sdk(built: Path, layer_id: str) -> None:
    layer = built / layer_id / "python"
    installed = {}
    for info in layer.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        installed[name.lower().replace("-", "_")] = version
    assert installed == pins()
    # The SDK the sidecar writes need, with only the service models the code uses.
    assert {p.name for p in (layer / "botocore" / "data").iterdir() if p.is_dir()} == BOTOCORE_SERVICES


@pytest.mark.parametrize(("layer_id", "arch"), LAYERS.items())
@pytest.mark.parametrize("function", ["ThumbnailFunction", "AnalyzeFunction"])
def test_the_built_template_gives_each_architecture_its_layer(
    built: Path, function: str, layer_id: str, arch: str
) -> None:
    template = built / "template.yaml"
    spec = run.function_spec(function, template_path=template, parameter_overrides={"Architecture": arch})
    assert spec.layer_dirs == (built / layer_id,)
    assert spec.code_dir == built / function
    resource = run.load_template(template)["Resources"][layer_id]
    assert resource["Condition"] == ("IsArm64" if arch == "arm64" else "IsX86")


# --- the functions under the emulator ------------------------------------------------------


@pytest.fixture(scope="module")
def s3(built: Path) -> Iterator[run.LocalS3]:
    server = run.LocalS3().start()
    env = run.function_spec("AnalyzeFunction", template_path=built / "template.yaml").environment
    server.prepare(env, seed_samples=True)
    record = json.loads((EVENTS / "s3_put_encoded_key.json").read_text())["Records"][0]["s3"]
    server.client().upload_file(
        str(SAMPLES / "chelsea.jpg"), env["SOURCE_BUCKET"], unquote_plus(record["object"]["key"])
    )
    ssm = boto3.client(
        "ssm",
        endpoint_url=server.endpoint,
        region_name=run.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ssm.put_parameter(Name=SIGNING_PARAM, Value=SIGNING_KEY, Type="SecureString")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(built: Path) -> dict[str, str]:
    return run.function_spec("ThumbnailFunction", template_path=built / "template.yaml").environment


@pytest.fixture(scope="module")
def thumbnail(built: Path, s3: run.LocalS3) -> Iterator[run.LocalLambda]:
    with run.LocalLambda("ThumbnailFunction", built=built, s3_endpoint=s3.endpoint) as fn:
        yield fn


@pytest.fixture(scope="module")
def signed_thumbnail(built: Path, s3: run.LocalS3) -> Iterator[run.LocalLambda]:
    extra = {"SIGNING_SECRET_PARAM": SIGNING_PARAM, "AWS_ENDPOINT_URL_SSM": s3.endpoint}
    with run.LocalLambda("ThumbnailFunction", built=built, s3_endpoint=s3.endpoint, extra_env=extra) as fn:
        yield fn


@pytest.fixture(scope="module")
def analyze(built: Path, s3: run.LocalS3) -> Iterator[run.LocalLambda]:
    with run.LocalLambda("AnalyzeFunction", built=built, s3_endpoint=s3.endpoint) as fn:
        yield fn


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def answer(fn: run.LocalLambda, name_or_event: str | dict[str, Any]) -> dict[str, Any]:
    result = fn.invoke(event(name_or_event) if isinstance(name_or_event, str) else name_or_event)
    assert not result.is_error, f"{result.payload}\n{fn.logs()[-3000:]}"
    assert isinstance(result.payload, dict)
    return result.payload


def image(response: dict[str, Any]) -> Image.Image:
    assert response["statusCode"] == 200, response.get("body")
    assert response["isBase64Encoded"] is True
    decoded = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    decoded.load()
    assert response["headers"]["Content-Type"] == Image.MIME[decoded.format]
    assert response["headers"]["Cache-Control"] == "public, max-age=86400"
    return decoded


def sidecar(s3: run.LocalS3, env: dict[str, str], source_key: str) -> dict[str, Any] | None:
    client = s3.client()
    try:
        body = client.get_object(Bucket=env["ANALYSIS_BUCKET"], Key=f"{env['ANALYSIS_PREFIX']}{source_key}.json")
    except client.exceptions.NoSuchKey:
        return None
    return json.loads(body["Body"].read())


def error_body(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response.get("body")
    return json.loads(response["body"])["error"]


def azure_answer(response: dict[str, Any], size: tuple[int, int], ratios: list[float]) -> None:
    assert response["statusCode"] == 200, response.get("body")
    body = json.loads(response["body"])
    assert body["metadata"] == {"width": size[0], "height": size[1]}
    assert [v["aspectRatio"] for v in body["smartCropsResult"]["values"]] == ratios


def key_of(name: str) -> str:
    return str(event(name)["Records"][0]["s3"]["object"]["key"])


# Each event file, in this order, and what it must answer (fns: name → function fixture).
Check = Callable[[dict[str, Any], dict[str, Any]], None]
EXPECTED: dict[str, tuple[str, Check]] = {
    "th_fit.json": ("thumbnail", lambda r, c: assert_size(image(r), (200, 200))),
    "head_th.json": ("thumbnail", lambda r, c: assert_head(r, c)),
    "th_signed.json": ("thumbnail", lambda r, c: assert_size(image(r), (200, 200))),  # signing off: sig ignored
    "th_blind_crop.json": ("thumbnail", lambda r, c: assert_size(image(r), (200, 200))),
    "th_no_padding.json": ("thumbnail", lambda r, c: assert_size(image(r), (640, 427))),
    "th_width_only.json": ("thumbnail", lambda r, c: assert_width(image(r), 300)),
    "th_bad_param.json": ("thumbnail", lambda r, c: assert_param(error_body(r, 400), "w")),
    "th_not_found.json": ("thumbnail", lambda r, c: assert_code(error_body(r, 404))),
    "analyze_s3_put.json": ("analyze", lambda r, c: assert_analysed(r, c, key_of("analyze_s3_put.json"))),
    "th_smart_crop.json": ("thumbnail", lambda r, c: assert_region(r, "sidecar", (300, 100))),
    "analysis_get.json": ("thumbnail", lambda r, c: assert_stored(r, c, key_of("analyze_s3_put.json"))),
    "s3_put_encoded_key.json": ("analyze", lambda r, c: assert_analysed(r, c, "img/my photo été 100% a+b.jpg")),
    "analyze_batch_v1.json": ("analyze", lambda r, c: assert_batch(r, c, "analyze_batch_v1.json")),
    "analyze_batch_v2.json": ("analyze", lambda r, c: assert_batch(r, c, "analyze_batch_v2.json")),
    "azure_analyze_binary.json": ("thumbnail", lambda r, c: azure_answer(r, (451, 300), [0.9, 1.33])),
    "azure_analyze_url.json": ("thumbnail", lambda r, c: azure_answer(r, (600, 400), [0.9, 1.33])),
    "azure_analyze_bad_ratio.json": ("thumbnail", lambda r, c: assert_azure_400(r)),
    "analyze_s3_delete.json": ("analyze", lambda r, c: assert_deleted(r, c, key_of("analyze_s3_delete.json"))),
}


def assert_size(img: Image.Image, size: tuple[int, int]) -> None:
    assert img.size == size


def assert_width(img: Image.Image, width: int) -> None:
    assert img.size[0] == width


def assert_param(error: dict[str, Any], param: str) -> None:
    assert error["code"] and error["param"] == param


def assert_code(error: dict[str, Any]) -> None:
    assert error["code"] and error["message"]


def assert_head(response: dict[str, Any], ctx: dict[str, Any]) -> None:
    get = answer(ctx["thumbnail"], "th_fit.json")
    assert response["statusCode"] == 200
    assert not response.get("body")
    for header in ("Content-Type", "ETag", "Cache-Control"):
        assert response["headers"][header] == get["headers"][header], header


def assert_region(response: dict[str, Any], origin: str, size: tuple[int, int]) -> None:
    assert_size(image(response), size)
    assert response["headers"]["X-Smartthumb-Region"] == origin


def assert_analysed(response: dict[str, Any], ctx: dict[str, Any], key: str) -> None:
    assert response["outcomes"] == ["analysed"]
    doc = sidecar(ctx["s3"], ctx["env"], key)
    assert doc is not None and doc["status"] == "ok"
    head = ctx["s3"].client().head_object(Bucket=ctx["env"]["SOURCE_BUCKET"], Key=key)
    assert doc["source"]["etag"].strip('"') == head["ETag"].strip('"')
    values = doc["azure"]["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.75, 1.0, 1.5, 1.78]  # SmartCropAspectRatios


def assert_stored(response: dict[str, Any], ctx: dict[str, Any], key: str) -> None:
    assert response["statusCode"] == 200, response.get("body")
    assert response["headers"]["X-Smartthumb-Analysis"] == "sidecar"
    doc = sidecar(ctx["s3"], ctx["env"], key)
    assert doc is not None
    body = json.loads(response["body"])
    # The Azure answer as stored (Azure clients read it as is), plus the region and faces.
    assert {k: body[k] for k in doc["azure"]} == doc["azure"]
    assert [f["score"] for f in body["faces"]] == [f["score"] for f in doc["faces"]]


def assert_batch(response: dict[str, Any], ctx: dict[str, Any], name: str) -> None:
    batch = event(name)
    assert response["invocationId"] == batch["invocationId"]
    assert [(r["taskId"], r["resultCode"]) for r in response["results"]] == [
        (t["taskId"], "Succeeded") for t in batch["tasks"]
    ]
    for task in batch["tasks"]:
        doc = sidecar(ctx["s3"], ctx["env"], task["s3Key"])
        assert doc is not None and doc["status"] == "ok" and doc["trigger"] == "BatchOperations"


def assert_azure_400(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 400
    assert response["headers"]["x-ms-error-code"] == "InvalidRequest"
    assert json.loads(response["body"])["error"]["innererror"]["code"] == "BadArgument"


def assert_deleted(response: dict[str, Any], ctx: dict[str, Any], key: str) -> None:
    assert response["outcomes"] == ["deleted"]
    assert sidecar(ctx["s3"], ctx["env"], key) is None


def test_every_event_file_has_an_expected_answer() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in EVENTS.glob("*.json"))


def test_every_event_gives_its_expected_answer(
    thumbnail: run.LocalLambda, analyze: run.LocalLambda, s3: run.LocalS3, env: dict[str, str]
) -> None:
    """The files in order (the upload before the reads of its sidecar, the delete last); every
    mismatch is reported, not only the first."""
    ctx = {"thumbnail": thumbnail, "analyze": analyze, "s3": s3, "env": env}
    failures = []
    for name, (function, check) in EXPECTED.items():
        try:
            check(answer(ctx[function], name), ctx)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_signed_th_is_served_and_unsigned_or_tampered_refused(signed_thumbnail: run.LocalLambda) -> None:
    """The signing key comes from SSM (SIGNING_SECRET_PARAM) through the layer's SDK."""
    assert_size(image(answer(signed_thumbnail, "th_signed.json")), (200, 200))
    assert error_body(answer(signed_thumbnail, "th_fit.json"), 403)["code"]
    tampered = event("th_signed.json")
    tampered["rawQueryString"] = tampered["rawQueryString"].replace("w=200", "w=201")
    assert error_body(answer(signed_thumbnail, tampered), 403)["code"]


def upload_event(name: str, key: str, etag: str, sequencer: str) -> dict[str, Any]:
    data = event(name)
    data["Records"][0]["s3"]["object"].update({"key": key, "eTag": etag, "sequencer": sequencer})
    return data


def test_an_upload_writes_its_sidecar_c7_reads_it_and_a_delete_removes_it(
    thumbnail: run.LocalLambda, analyze: run.LocalLambda, s3: run.LocalS3, env: dict[str, str]
) -> None:
    """Conditional writes (PutObject IfMatch/IfNoneMatch, DeleteObject IfMatch) succeed only
    because the layer brings its SDK: the runtime stand-in's botocore 1.34.162 has neither."""
    key = env["SOURCE_PREFIX"] + "flow/rocket.jpg"
    put = s3.client().put_object(Bucket=env["SOURCE_BUCKET"], Key=key, Body=(SAMPLES / "rocket.jpg").read_bytes())
    etag = put["ETag"].strip('"')
    created = upload_event("analyze_s3_put.json", key, etag, "0062A1B2C3D4E5F900")
    assert answer(analyze, created)["outcomes"] == ["analysed"]
    doc = sidecar(s3, env, key)
    assert doc is not None and doc["status"] == "ok"

    request = event("th_smart_crop.json")
    request["rawQueryString"] = "id=flow/rocket.jpg&w=300&h=100&c=7"
    request["queryStringParameters"] = {"id": "flow/rocket.jpg", "w": "300", "h": "100", "c": "7"}
    assert_region(answer(thumbnail, request), "sidecar", (300, 100))

    s3.client().delete_object(Bucket=env["SOURCE_BUCKET"], Key=key)
    removed = upload_event("analyze_s3_delete.json", key, etag, "0062A1B2C3D4E5F9FF")
    assert answer(analyze, removed)["outcomes"] == ["deleted"]
    assert sidecar(s3, env, key) is None


PROBE = """
import importlib.util, json, sys
import app, botocore, boto3
print("PROBE:" + json.dumps({
    "files": {m: sys.modules[m].__file__ for m in sorted(sys.modules)
              if "." not in m and not m.startswith("__") and getattr(sys.modules[m], "__file__", None)},
    "botocore": botocore.__version__,
    "awslambdaric": importlib.util.find_spec("awslambdaric").origin,
    "yaml": importlib.util.find_spec("yaml") is not None,
}))
"""


@pytest.mark.parametrize("function", ["ThumbnailFunction", "AnalyzeFunction"])
def test_the_built_function_imports_only_the_layer_and_the_runtime(built: Path, function: str) -> None:
    """``import app`` as the runtime does it: every module from the function code, the layer or
    the standard library; the SDK from the layer (the runtime's is too old); no dev package."""
    fn = run.LocalLambda(function, built=built, s3_endpoint="http://127.0.0.1:9")
    try:
        result = fn.run_python(PROBE)
        assert fn.root is not None
        task, opt = fn.root / "var" / "task", fn.root / "opt" / "python"
        stdlib = Path(subprocess.check_output([fn.python, "-I", "-c", "import os; print(os.__file__)"], text=True))
    finally:
        fn.stop()
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE:")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    out = json.loads(lines[-1][len("PROBE:") :])
    assert out["botocore"] == pins()["botocore"]
    assert out["yaml"] is False  # dev-only packages are not on the runtime's path
    assert Path(out["awslambdaric"]).is_relative_to(run.RUNTIME_PACKAGES)
    roots = {"app": task}
    for module in ("smartthumb", "aws_lambda_powertools", "boto3", "botocore"):
        roots[module] = opt
    for module, root in roots.items():
        assert Path(out["files"][module]).is_relative_to(root), (module, out["files"][module])
    for module in {"PIL", "numpy", "onnxruntime", "aws_xray_sdk"} & out["files"].keys():
        assert Path(out["files"][module]).is_relative_to(opt), (module, out["files"][module])
    allowed = (task, opt, stdlib.parent, run.RUNTIME_PACKAGES)
    strays = {m: f for m, f in out["files"].items() if not any(Path(f).is_relative_to(r) for r in allowed)}
    assert not strays
    if function == "ThumbnailFunction":  # the thumbnail cold path loads neither
        assert not {"numpy", "onnxruntime"} & out["files"].keys()
