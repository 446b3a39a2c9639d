"""template.yaml: linters, and the properties the design fixes (cache key, routes, privileges,
retries, the Rules, alarms, names). The linters need .venv-tools and are marked slow."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.rie import run
from smartthumb.config import ConfigError, Settings
from smartthumb.ingest import validate_for_ingest

from .conftest import REPO, run_tool, tool

TH_PARAMS = ["id", "w", "h", "c", "p", "qlt", "dpr", "pcl", "sig", "exp"]


@pytest.mark.slow
def test_cfn_lint_with_serverless_rules_is_clean() -> None:
    result = run_tool([tool("cfn-lint"), "template.yaml", "-a", "cfn_lint_serverless.rules"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint_is_clean() -> None:
    result = run_tool([tool("sam"), "validate", "--lint", "--template", "template.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_is_clean_and_every_suppression_says_why(template: dict[str, Any]) -> None:
    # --skip-download: no call to Prisma Cloud (tests talk to this machine only).
    args = [tool("checkov"), "-f", "template.yaml", "--framework", "cloudformation", "--skip-download", "-o", "json"]
    result = run_tool(args)
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0 and result.returncode == 0, failed
    assert summary["passed"] > 20  # it really scanned the template
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]) and len(skip.get("comment", "")) > 30, (name, skip)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_every_build_is_a_makefile_build(template: dict[str, Any]) -> None:
    res = template["Resources"]
    for name in ("ImagingLayerX86", "ImagingLayerArm64", "ThumbnailFunction", "AnalyzeFunction"):
        assert res[name]["Metadata"]["BuildMethod"] == "makefile", name
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.12"
    assert glob["Layers"] == [{"Fn::If": ["IsArm64", {"Ref": "ImagingLayerArm64"}, {"Ref": "ImagingLayerX86"}]}]
    assert glob["Architectures"] == [{"Ref": "Architecture"}]
    assert template["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_one_parameter_picks_the_functions_and_the_layers_architecture(
    template: dict[str, Any], architecture: str
) -> None:
    """The stack creates exactly one layer, built (make target) and declared for the functions' architecture."""
    res = template["Resources"]
    params = {"Architecture": architecture}
    created = [n for n, r in res.items() if "Condition" in r and r["Type"] == "AWS::Serverless::LayerVersion"]
    created = [n for n in created if run.resolve(template, {"Condition": res[n]["Condition"]}, params)]
    assert len(created) == 1
    (layer,) = created
    assert run.resolve(template, template["Globals"]["Function"]["Layers"], params) == [{"Ref": layer}]
    assert run.resolve(template, template["Globals"]["Function"]["Architectures"], params) == [architecture]
    assert res[layer]["Properties"]["CompatibleArchitectures"] == [architecture]
    assert res[layer]["Metadata"]["BuildArchitecture"] == architecture
    makefile = (REPO / "layers" / "imaging" / "Makefile").read_text()
    assert f"build-{layer}: LAYER_ARCH = {architecture}" in makefile


@pytest.mark.parametrize("function", ["ThumbnailFunction", "AnalyzeFunction"])
def test_the_decode_cpu_budget_is_one_parameter_of_both_functions(template: dict[str, Any], function: str) -> None:
    assert template["Parameters"]["MaxDecodeCpuMs"]["Default"] == Settings().max_decode_cpu_ms
    for value in ("0", "2500"):
        spec = run.function_spec(function, parameter_overrides={"MaxDecodeCpuMs": value}, env_json=None)
        assert Settings.from_env(spec.environment).max_decode_cpu_ms == int(value)


def test_http_api_routes(template: dict[str, Any]) -> None:
    events = template["Resources"]["ThumbnailFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values() if e["Type"] == "HttpApi"}
    assert routes == {
        ("GET", "/th"),
        ("HEAD", "/th"),
        ("GET", "/analysis"),
        ("PUT", "/analysis"),
        ("POST", "/computervision/{proxy+}"),
    }
    assert all(e["Properties"]["ApiId"] == {"Ref": "HttpApi"} for e in events.values())


def test_only_the_manual_region_route_is_iam_authorised(template: dict[str, Any]) -> None:
    events = template["Resources"]["ThumbnailFunction"]["Properties"]["Events"]
    auth = {
        e["Properties"]["Method"] + " " + e["Properties"]["Path"]: e["Properties"].get("Auth") for e in events.values()
    }
    assert auth.pop("PUT /analysis") == {"Authorizer": "AWS_IAM"}
    assert set(auth.values()) == {None}
    api_auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert api_auth == {"EnableIamAuthorizer": True}  # no DefaultAuthorizer: /th stays public


def test_s3_notifications_filter_on_the_source_prefix(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["SourceBucket"]
    configs = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert {c["Event"] for c in configs} == {"s3:ObjectCreated:*", "s3:ObjectRemoved:*"}
    for config in configs:
        assert config["Function"] == {"Fn::GetAtt": ["AnalyzeFunction", "Arn"]}
        condition, with_prefix, without = config["Filter"]["Fn::If"]
        assert condition == "HasSourcePrefix"
        assert with_prefix["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "SourcePrefix"}}]
        assert without == {"Ref": "AWS::NoValue"}
    assert "Events" not in template["Resources"]["AnalyzeFunction"]["Properties"]  # no SAM-made permission
    assert bucket["DependsOn"] == "AnalyzeInvokePermission"


@pytest.mark.parametrize(
    ("overrides", "bucket"),
    [({}, "smartthumb-src-00000000-0000-4000-8000-000000000000"), ({"SourceBucketName": "my-images"}, "my-images")],
)
def test_only_the_source_bucket_of_this_account_may_invoke_analysis(
    template: dict[str, Any], overrides: dict[str, str], bucket: str
) -> None:
    permissions = resources_of(template, "AWS::Lambda::Permission")
    assert list(permissions) == ["AnalyzeInvokePermission"]
    props = run.resolve(
        template, permissions["AnalyzeInvokePermission"]["Properties"] | {"FunctionName": ""}, overrides
    )
    assert props["Principal"] == "s3.amazonaws.com"
    assert props["SourceArn"] == f"arn:aws:s3:::{bucket}"
    assert props["SourceAccount"] == run.ACCOUNT
    # The bucket the stack creates is the one the permission names.
    if not overrides:
        assert run.resolve(template, template["Resources"]["SourceBucket"]["Properties"]["BucketName"]) == bucket


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
    # Accept when AVIF or WebP is on, the client hints when EnableClientHints is: each only then.
    for avif_webp, hints, headers in [
        ("true", "false", ["Accept"]),
        ("true", "true", ["Accept", "Sec-CH-DPR", "Sec-CH-Width"]),
        ("false", "true", ["Sec-CH-DPR", "Sec-CH-Width"]),
        ("false", "false", None),
    ]:
        overrides = {"EnableAvif": avif_webp, "EnableWebp": avif_webp, "EnableClientHints": hints}
        resolved = run.resolve(template, params["HeadersConfig"], overrides)
        expected = {"HeaderBehavior": "whitelist", "Headers": headers} if headers else {"HeaderBehavior": "none"}
        assert resolved == expected, overrides
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


# --- Rules: what the functions refuse at init is refused at deploy time -----------------------


def failing_rules(template: dict[str, Any], overrides: dict[str, str]) -> set[str]:
    failed = set()
    for name, rule in template["Rules"].items():
        if "RuleCondition" in rule and not run.resolve(template, rule["RuleCondition"], overrides):
            continue
        if not all(run.resolve(template, a["Assert"], overrides) for a in rule["Assertions"]):
            failed.add(name)
    return failed


def refused_at_init(overrides: dict[str, str]) -> bool:
    try:
        for function in ("ThumbnailFunction", "AnalyzeFunction"):
            settings = Settings.from_env(
                run.function_spec(function, env_json=None, parameter_overrides=overrides).environment
            )
            if function == "AnalyzeFunction":
                validate_for_ingest(settings)
    except ConfigError:
        return True
    return False


SHARED = {"SourceBucketName": "shared-images", "AnalysisBucketName": "shared-images"}


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({}, None),
        ({"SourceBucketName": "images", "AnalysisBucketName": "sidecars"}, None),
        ({**SHARED, "SourcePrefix": "img/", "AnalysisPrefix": "analysis/"}, None),
        ({**SHARED, "SourcePrefix": "", "AnalysisPrefix": "analysis/"}, "SharedBucketNeedsSeparatePrefixes"),
        ({**SHARED, "SourcePrefix": "img/", "AnalysisPrefix": "img/"}, "SharedBucketNeedsSeparatePrefixes"),
        ({"SmartCropAspectRatios": "0.75,1.8"}, None),
        ({"EnableClientHints": "true"}, None),
        ({"EnableClientHints": "true", "SigningSecretSsmParameter": "/k"}, "ClientHintsNeedUnsignedUrls"),
        (
            {"EnableClientHints": "true", "SigningSecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:k"},
            "ClientHintsNeedUnsignedUrls",
        ),
        ({"EnableClientHints": "false", "SigningSecretSsmParameter": "/k"}, None),
    ],
)
def test_rules_refuse_what_the_functions_refuse(
    template: dict[str, Any], overrides: dict[str, str], rule: str | None
) -> None:
    assert failing_rules(template, overrides) == ({rule} if rule else set())
    assert refused_at_init(overrides) == (rule is not None)


def test_a_prefix_nested_in_the_other_is_left_to_the_functions(template: dict[str, Any]) -> None:
    """Rules cannot compare prefixes (no "starts with"): this one still fails at init (infra/DEPLOY.md)."""
    nested = {**SHARED, "SourcePrefix": "img/", "AnalysisPrefix": "img/analysis/"}
    assert failing_rules(template, nested) == set()
    assert refused_at_init(nested)


@pytest.mark.parametrize("ratios", ["0.7", "1.9", "2", "0.75,1.81", "abc"])
def test_aspect_ratios_outside_the_range_are_refused_by_the_parameter(template: dict[str, Any], ratios: str) -> None:
    pattern = template["Parameters"]["SmartCropAspectRatios"]["AllowedPattern"]
    assert not re.fullmatch(pattern, ratios)
    with pytest.raises(ConfigError):
        Settings.from_env({"SMARTCROP_ASPECT_RATIOS": ratios})


@pytest.mark.parametrize("ratios", ["0.75", "1", "1.8", "0.9,1.33", "0.75,1.0,1.5,1.78", "1.80"])
def test_aspect_ratios_in_the_range_pass_the_parameter(template: dict[str, Any], ratios: str) -> None:
    assert re.fullmatch(template["Parameters"]["SmartCropAspectRatios"]["AllowedPattern"], ratios)
    Settings.from_env({"SMARTCROP_ASPECT_RATIOS": ratios})


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"SigningSecretSsmParameter": "/k", "SigningSecretArn": "arn:aws:secretsmanager:x"}, "OneSigningSecret"),
        ({"DomainName": "img.example.com"}, "CustomDomainNeedsCertificate"),
        ({"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}, "CertificateNeedsCustomDomain"),
    ],
)
def test_rules_refuse_half_configured_options(template: dict[str, Any], overrides: dict[str, str], rule: str) -> None:
    assert failing_rules(template, overrides) == {rule}


# --- names, operations --------------------------------------------------------------------

GLOBAL_NAMES = {  # CloudFront and dashboards are global: one name across regions
    "AWS::CloudFront::CachePolicy": ("CachePolicyConfig", "Name"),
    "AWS::CloudFront::Function": ("Name",),
    "AWS::CloudWatch::Dashboard": ("DashboardName",),
}
REGIONAL_NAMES = {"AWS::Serverless::LayerVersion": ("LayerName",)}


def stack(region: str, name: str, uid: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::StackName": name,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:123456789012:stack/{name}/{uid}",
    }


def named(template: dict[str, Any], kinds: dict[str, tuple[str, ...]]) -> list[tuple[str, Any]]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] in kinds:
            value: Any = resource["Properties"]
            for key in kinds[resource["Type"]]:
                value = value[key]
            found.append((resource["Type"], value))
    return found


def test_names_are_unique_per_stack_and_region(template: dict[str, Any]) -> None:
    """Stacks of one name in two regions, or of two names in one region, never share a name."""
    two_regions = [stack("us-east-1", "smartthumb", "11111111-aaaa"), stack("eu-west-1", "smartthumb", "2222-bbbb")]
    two_names = [stack("us-east-1", "smartthumb", "11111111-aaaa"), stack("us-east-1", "smartthumb-b", "3333-cccc")]
    global_names = named(template, GLOBAL_NAMES)
    assert len(global_names) == 3
    for kind, value in global_names:
        names = {run.resolve(template, value, s) for s in two_regions + two_names}
        assert len(names) == 3, value
        if kind.startswith("AWS::CloudFront"):
            assert all(len(n) <= 64 for n in names)  # CloudFront Functions' limit
    regional = named(template, REGIONAL_NAMES)
    assert len(regional) == 2
    for _, value in regional:
        assert len({run.resolve(template, value, s) for s in two_names}) == 2, value
    for name in ("AnalyzeFunction", "ThumbnailFunction", "DeadLetterQueue", "BatchOperationsRole"):
        props = template["Resources"][name]["Properties"]
        assert not {"FunctionName", "QueueName", "RoleName"} & props.keys()  # generated, hence unique


def alarmed(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def test_alarms_cover_the_dlq_errors_throttles_and_5xx(template: dict[str, Any]) -> None:
    covered = set()
    for props in alarmed(template).values():
        if "MetricName" in props:
            target = props["Dimensions"][0]["Value"]
            covered.add((props["MetricName"], json.dumps(target)))
        else:
            covered |= {(m["MetricStat"]["Metric"]["MetricName"], "api") for m in props["Metrics"] if "MetricStat" in m}
    fn = {name: json.dumps({"Ref": name}) for name in ("ThumbnailFunction", "AnalyzeFunction")}
    assert covered >= {
        ("ApproximateNumberOfMessagesVisible", json.dumps({"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]})),
        ("Errors", fn["ThumbnailFunction"]),
        ("Errors", fn["AnalyzeFunction"]),
        ("Throttles", fn["ThumbnailFunction"]),
        ("Throttles", fn["AnalyzeFunction"]),
        ("5xx", "api"),
        ("Count", "api"),
    }


@pytest.mark.parametrize(("topic", "actions"), [("", None), ("arn:aws:sns:us-east-1:123456789012:ops", 1)])
def test_alarms_notify_the_optional_topic(template: dict[str, Any], topic: str, actions: int | None) -> None:
    for name, props in alarmed(template).items():
        for key in ("AlarmActions", "OKActions"):
            value = run.resolve(template, props[key], {"AlarmTopicArn": topic})
            assert value == ([topic] if actions else ""), (name, key)  # "" is AWS::NoValue here


def test_the_dashboard_is_json_and_shows_both_functions(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
    text = json.dumps(widgets)
    for needle in ("ThumbnailFunction", "AnalyzeFunction", "HttpApi", "DeadLetterQueue.QueueName", '"smartthumb"'):
        assert needle in text


@pytest.mark.parametrize(
    ("overrides", "shield", "logging"),
    [({}, "", ""), ({"OriginShieldRegion": "eu-west-1", "CloudFrontLogBucket": "my-logs"}, "eu-west-1", "my-logs")],
)
def test_origin_shield_and_access_logs_are_options(
    template: dict[str, Any], overrides: dict[str, str], shield: str, logging: str
) -> None:
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    origin = run.resolve(template, config["Origins"][0]["OriginShield"], overrides)
    logs = run.resolve(template, config["Logging"], overrides)
    if shield:
        assert origin == {"Enabled": True, "OriginShieldRegion": shield}
        assert logs["Bucket"] == f"{logging}.s3.amazonaws.com" and logs["Prefix"].startswith("cloudfront/")
    else:
        assert origin == logs == ""


def test_custom_domain_uses_the_certificate_with_tls12(template: dict[str, Any]) -> None:
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    custom = {"DomainName": "img.example.com", "CertificateArn": cert}
    assert run.resolve(template, config["Aliases"], custom) == ["img.example.com"]
    viewer = run.resolve(template, config["ViewerCertificate"], custom)
    assert viewer == {
        "AcmCertificateArn": cert,
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert run.resolve(template, config["ViewerCertificate"]) == {"CloudFrontDefaultCertificate": True}
