"""What the emulator runner reads from template.yaml and infra/env.json (no emulator started)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from infra.rie import run
from smartthumb.config import Settings

THUMBNAIL_VARS = {
    "SOURCE_BUCKET",
    "SOURCE_PREFIX",
    "ANALYSIS_BUCKET",
    "ANALYSIS_PREFIX",
    "MAX_DIMENSION",
    "MAX_DPR",
    "MAX_SOURCE_BYTES",
    "MAX_SOURCE_PIXELS",
    "MAX_OUTPUT_BYTES",
    "DEFAULT_QUALITY",
    "CACHE_CONTROL",
    "FALLBACK_CACHE_CONTROL",
    "ENABLE_WEBP",
    "SMARTCROP_ASPECT_RATIOS",
    "SIGNING_SECRET_PARAM",
    "ANALYSIS_TIME_BUDGET_MS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "AWS_ENDPOINT_URL_S3",
}


def test_thumbnail_spec_from_template_defaults() -> None:
    spec = run.function_spec("ThumbnailFunction", env_json=None)
    assert spec.handler == "app.handler"
    assert spec.code_dir == run.REPO / "functions" / "thumbnail"
    assert (spec.memory_mb, spec.timeout_s) == (1024, 20)
    assert not THUMBNAIL_VARS - spec.environment.keys()
    # The created bucket's name is computed from the stack id, not a Ref (no cycle).
    assert spec.environment["SOURCE_BUCKET"] == "smartthumb-src-00000000-0000-4000-8000-000000000000"
    assert spec.environment["CACHE_CONTROL"] == "public, max-age=86400"
    assert spec.environment["AWS_ENDPOINT_URL_S3"] == ""
    assert spec.environment["SIGNING_SECRET_PARAM"] == ""


def test_parameter_overrides_reach_the_environment() -> None:
    spec = run.function_spec(
        "ThumbnailFunction",
        env_json=None,
        parameter_overrides={
            "SourceBucketName": "my-images",
            "EnableWebp": "false",
            "CacheMaxAge": "60",
            "SigningSecretSsmParameter": "/smartthumb/key",
        },
    )
    assert spec.environment["SOURCE_BUCKET"] == "my-images"
    assert spec.environment["ENABLE_WEBP"] == "false"
    assert spec.environment["CACHE_CONTROL"] == "public, max-age=60"
    assert spec.environment["SIGNING_SECRET_PARAM"] == "/smartthumb/key"


def test_env_json_overrides_only_declared_variables(tmp_path: Path) -> None:
    env_json = tmp_path / "env.json"
    env_json.write_text(
        json.dumps(
            {
                "Parameters": {"SOURCE_BUCKET": "shared", "NOT_IN_TEMPLATE": "x"},
                "AnalyzeFunction": {"SOURCE_BUCKET": "analyze-only"},
            }
        )
    )
    thumb = run.function_spec("ThumbnailFunction", env_json=env_json)
    analyze = run.function_spec("AnalyzeFunction", env_json=env_json)
    assert thumb.environment["SOURCE_BUCKET"] == "shared"
    assert analyze.environment["SOURCE_BUCKET"] == "analyze-only"
    assert "NOT_IN_TEMPLATE" not in thumb.environment


@pytest.mark.parametrize("function", ["ThumbnailFunction", "AnalyzeFunction"])
@pytest.mark.parametrize("env_json", [None, run.REPO / "infra" / "env.json"], ids=["template", "env.json"])
def test_template_environment_is_a_valid_configuration(function: str, env_json: Path | None) -> None:
    """What the template (and the local env.json) sets passes the code's own start-up validation."""
    spec = run.function_spec(function, env_json=env_json)
    settings = Settings.from_env(spec.environment)
    assert settings.source_bucket and settings.analysis_bucket
    assert settings.smartcrop_aspect_ratios == (0.75, 1.0, 1.5, 1.78)


def test_local_env_json_matches_the_event_files() -> None:
    """The S3 event files name the bucket and prefix that env.json configures."""
    env = run.function_spec("AnalyzeFunction").environment
    record = json.loads((run.REPO / "infra" / "events" / "analyze_s3_put.json").read_text())["Records"][0]["s3"]
    assert record["bucket"]["name"] == env["SOURCE_BUCKET"]
    assert record["object"]["key"].startswith(env["SOURCE_PREFIX"])


def test_thumbnail_handler_import_loads_neither_numpy_nor_onnxruntime() -> None:
    """Cold start of ThumbnailFunction, laid out as on Lambda: `python -X importtime -c 'import app'`."""
    fn = run.LocalLambda("ThumbnailFunction", s3_endpoint="http://127.0.0.1:9")
    try:
        imported = fn.imported_packages()
    finally:
        fn.stop()
    assert {"app", "smartthumb", "PIL", "aws_lambda_powertools"} <= imported
    assert not imported & {"numpy", "onnxruntime"}


def test_cache_control_is_the_same_locally_and_deployed() -> None:
    """The template's CACHE_CONTROL (CacheMaxAge's default) is the code's default, which the local server uses."""
    spec = run.function_spec("ThumbnailFunction", env_json=None)
    assert spec.environment["CACHE_CONTROL"] == Settings().cache_control == "public, max-age=86400"


@pytest.mark.parametrize(("architecture", "layer"), [("x86_64", "ImagingLayerX86"), ("arm64", "ImagingLayerArm64")])
@pytest.mark.parametrize("function", ["ThumbnailFunction", "AnalyzeFunction"])
def test_the_architecture_parameter_picks_the_layer(function: str, architecture: str, layer: str) -> None:
    template = run.load_template()
    spec = run.function_spec(function, env_json=None, parameter_overrides={"Architecture": architecture})
    assert spec.layer_dirs == (run.REPO / "layers" / "imaging",)
    chosen = template["Globals"]["Function"]["Layers"][0]["Fn::If"]
    assert chosen[0] == "IsArm64"
    picked = chosen[1] if architecture == "arm64" else chosen[2]
    assert picked == {"Ref": layer}
    props = template["Resources"][layer]["Properties"]
    assert props["CompatibleArchitectures"] == [architecture]
    assert template["Resources"][layer]["Metadata"]["BuildArchitecture"] == architecture


def test_find_python_finds_the_lambda_runtime_version() -> None:
    python = run.find_python("3.12")
    probe = [python, "-I", "-c", "import sys; print(sys.version_info[:2])"]
    out = subprocess.run(probe, capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "(3, 12)"


def test_another_interpreter_needs_a_built_layer() -> None:
    with pytest.raises(run.RunnerError, match="built layer"):
        run.LocalLambda("ThumbnailFunction", python="/usr/bin/python3")
