"""template.yaml: linters, and the properties the design fixes (cache key, routes, privileges, retries)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import run_tool, tool

TH_PARAMS = ["id", "w", "h", "c", "p", "qlt", "dpr", "pcl", "sig", "exp"]


def test_cfn_lint_with_serverless_rules_is_clean() -> None:
    result = run_tool([tool("cfn-lint"), "template.yaml", "-a", "cfn_lint_serverless.rules"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_is_clean() -> None:
    result = run_tool([tool("sam"), "validate", "--lint", "--template", "template.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_every_build_is_a_makefile_build(template: dict[str, Any]) -> None:
    res = template["Resources"]
    for name in ("ImagingLayer", "ThumbnailFunction", "AnalyzeFunction"):
        assert res[name]["Metadata"]["BuildMethod"] == "makefile", name
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.12"
    assert glob["Layers"] == [{"Ref": "ImagingLayer"}]
    assert glob["Architectures"] == [{"Ref": "Architecture"}]
    assert res["ImagingLayer"]["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert template["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]


def test_http_api_routes(template: dict[str, Any]) -> None:
    events = template["Resources"]["ThumbnailFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values() if e["Type"] == "HttpApi"}
    assert routes == {("GET", "/th"), ("GET", "/analysis"), ("POST", "/computervision/{proxy+}")}
    assert all(e["Properties"]["ApiId"] == {"Ref": "HttpApi"} for e in events.values())


def test_s3_events_filter_on_the_source_prefix(template: dict[str, Any]) -> None:
    events = template["Resources"]["AnalyzeFunction"]["Properties"]["Events"]
    s3_events = {e["Properties"]["Events"]: e["Properties"] for e in events.values() if e["Type"] == "S3"}
    assert set(s3_events) == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    for props in s3_events.values():
        assert props["Bucket"] == {"Ref": "SourceBucket"}
        condition, with_prefix, without = props["Filter"]["Fn::If"]
        assert condition == "HasSourcePrefix"
        assert with_prefix["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "SourcePrefix"}}]
        assert without == {"Ref": "AWS::NoValue"}


def test_analyze_failures_are_retried_then_kept(template: dict[str, Any]) -> None:
    props = template["Resources"]["AnalyzeFunction"]["Properties"]
    config = props["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == {"Ref": "AnalyzeMaximumRetryAttempts"}
    assert config["MaximumEventAgeInSeconds"] == {"Ref": "AnalyzeMaximumEventAgeInSeconds"}
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    }
    params = template["Parameters"]
    assert params["AnalyzeMaximumRetryAttempts"]["MaxValue"] == 2
    assert params["AnalyzeMaximumEventAgeInSeconds"]["MaxValue"] == 21600
    assert "HasAnalyzeReservedConcurrency" in json.dumps(props["ReservedConcurrentExecutions"])


def test_cloudfront_cache_key_holds_only_the_th_parameters(template: dict[str, Any]) -> None:
    (policy,) = resources_of(template, "AWS::CloudFront::CachePolicy").values()
    params = policy["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert params["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist", "QueryStrings": TH_PARAMS}
    assert params["CookiesConfig"] == {"CookieBehavior": "none"}
    condition, webp_on, webp_off = params["HeadersConfig"]["Fn::If"]
    assert condition == "AcceptVaries"
    assert webp_on == {"HeaderBehavior": "whitelist", "Headers": ["Accept"]}
    assert webp_off == {"HeaderBehavior": "none"}
    assert params["EnableAcceptEncodingGzip"] is False
    assert params["EnableAcceptEncodingBrotli"] is False

    (dist,) = resources_of(template, "AWS::CloudFront::Distribution").values()
    default = dist["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert default["Compress"] is False
    assert default["CachePolicyId"] == {"Ref": next(iter(resources_of(template, "AWS::CloudFront::CachePolicy")))}
    assert "HttpApi" in json.dumps(dist["Properties"]["DistributionConfig"]["Origins"])


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        # A conditional statement (e.g. the render store's) counts as its "true" branch.
        found.extend(st["Fn::If"][1] if "Fn::If" in st else st for st in policy["Statement"])
    return found


@pytest.mark.parametrize("function", ["ThumbnailFunction", "AnalyzeFunction"])
def test_policies_are_least_privilege(template: dict[str, Any], function: str) -> None:
    statements = _statements(template["Resources"][function])
    assert statements
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert all("*" not in a for a in actions), st
        assert st["Resource"] != "*", st
    by_sid = {st["Sid"]: st for st in statements}
    read = json.dumps(by_sid["ReadSourceImages"])
    assert by_sid["ReadSourceImages"]["Action"] == "s3:GetObject"
    assert "${SourcePrefix}*" in read
    writes = [st for st in statements if {"s3:PutObject", "s3:DeleteObject"} & set(st["Action"])]
    assert writes and all(
        "${AnalysisPrefix}*" in json.dumps(st["Resource"]) or "${RenderPrefix}*" in json.dumps(st["Resource"])
        for st in writes
    )
    deletes = [st for st in statements if "s3:DeleteObject" in st["Action"]]
    assert bool(deletes) == (function == "AnalyzeFunction")


def test_functions_log_to_groups_with_retention(template: dict[str, Any]) -> None:
    res = template["Resources"]
    for function in ("ThumbnailFunction", "AnalyzeFunction"):
        group = res[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert res[group]["Type"] == "AWS::Logs::LogGroup"
        assert res[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_outputs(template: dict[str, Any]) -> None:
    expected = {"ApiUrl", "CloudFrontDomain", "SourceBucketName", "AnalysisBucketName", "DeadLetterQueueUrl"}
    assert not expected - template["Outputs"].keys()


def test_no_function_env_refers_to_a_bucket_resource(template: dict[str, Any]) -> None:
    """A Ref to SourceBucket from a function would close the bucket → notification → function cycle."""
    for function in ("ThumbnailFunction", "AnalyzeFunction"):
        text = json.dumps(template["Resources"][function]["Properties"].get("Policies")) + json.dumps(
            template["Globals"]["Function"]["Environment"]
        )
        assert '{"Ref": "SourceBucket"}' not in text
        assert '"SourceBucket.Arn"' not in text
