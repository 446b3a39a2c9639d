"""template.yaml's formats parts: the AVIF switch, the render store (prefix, lifecycle, CloudFront, IAM), caps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.rie import run
from smartthumb.config import ConfigError, Settings


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return run.load_template(run.REPO / "template.yaml")


def test_render_store_environment_and_caps() -> None:
    spec = run.function_spec("ThumbnailFunction", env_json=None)
    env = spec.environment
    assert env["RENDER_PREFIX"] == "renders/"
    assert env["RENDER_BUCKET"] == env["ANALYSIS_BUCKET"]
    assert env["ENABLE_AVIF"] == "true"
    assert int(env["MAX_INLINE_BYTES"]) * 4 / 3 < 6 * 2**20  # base64 of the inline cap fits Lambda's 6 MB
    assert int(env["MAX_OUTPUT_BYTES"]) > 6 * 2**20
    settings = Settings.from_env(env)  # the template's values are valid settings
    assert settings.output_cap == int(env["MAX_OUTPUT_BYTES"])
    off = run.function_spec("ThumbnailFunction", env_json=None, parameter_overrides={"RenderPrefix": ""})
    assert off.environment["RENDER_BUCKET"] == ""
    assert Settings.from_env(off.environment).output_cap == int(env["MAX_INLINE_BYTES"])
    analyze = run.function_spec("AnalyzeFunction", env_json=None).environment
    assert analyze["RENDER_BUCKET"] == env["RENDER_BUCKET"]  # it removes a changed source's renders


def test_lifecycle_rule_expires_renders(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["AnalysisBucket"]["Properties"]
    condition, config, _ = bucket["LifecycleConfiguration"]["Fn::If"]
    assert condition == "CreateRenderLifecycle"
    (rule,) = config["Rules"]
    assert rule["Prefix"] == {"Ref": "RenderPrefix"}
    assert rule["ExpirationInDays"] == {"Ref": "RenderExpirationDays"}


def test_cloudfront_serves_the_render_prefix_from_the_bucket(template: dict[str, Any]) -> None:
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    origins = [o["Fn::If"][1] for o in config["Origins"] if "Fn::If" in o]
    (store,) = [o for o in origins if o["Id"] == "RenderStoreOrigin"]
    assert "OriginAccessControlId" in store
    behaviours = [b["Fn::If"][1] for b in config["CacheBehaviors"] if "Fn::If" in b]
    (renders,) = [b for b in behaviours if b["TargetOriginId"] == "RenderStoreOrigin"]
    assert renders["PathPattern"] == {"Fn::Sub": "/${RenderPrefix}*"}
    assert renders["AllowedMethods"] == ["GET", "HEAD"]
    policy = json.dumps(template["Resources"]["AnalysisBucketPolicy"])
    assert "CloudFrontReadsRenders" in policy and "${RenderPrefix}*" in policy and "AWS:SourceArn" in policy


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RENDER_BUCKET": "b", "ANALYSIS_BUCKET": "b", "RENDER_PREFIX": "analysis/"}, "overlap"),
        ({"RENDER_BUCKET": "b", "SOURCE_BUCKET": "b", "SOURCE_PREFIX": "", "ANALYSIS_BUCKET": "a"}, "loop"),
        ({"RENDER_PREFIX": "/renders/"}, "RENDER_PREFIX"),
        ({"RENDER_PREFIX": "renders"}, "RENDER_PREFIX"),
    ],
)
def test_render_store_settings_that_cannot_work(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
