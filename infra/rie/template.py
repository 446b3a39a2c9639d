"""template.yaml as data, and what one function of it needs to run: handler, memory, timeout,
environment, layers, with the intrinsic functions resolved for a stack that does not exist.

Pure: reads files, starts nothing. :mod:`infra.rie.run` (the emulator runner) and the
template tests use it; :func:`resolve` also evaluates Conditions and Rules' assertions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
ENV_JSON = REPO / "infra" / "env.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/smartthumb-local/00000000-0000-4000-8000-000000000000"


class RunnerError(RuntimeError):
    """The template, the emulator or the tools are not as expected."""


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long form."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long (JSON) form."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)
    if not isinstance(data, dict) or "Resources" not in data:
        raise RunnerError(f"{path} is not a CloudFormation template")
    return data


class _Unresolvable(Exception):
    """A value that only exists in a deployed stack (a resource's Ref or attribute)."""


@dataclass
class _Resolver:
    """Evaluates the intrinsic functions a function's properties use, for a stack that does not exist."""

    template: Mapping[str, Any]
    parameters: dict[str, str]
    _conditions: dict[str, bool] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template.get("Conditions", {})[name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        (key, arg), *_ = value.items()
        if key == "Ref":
            if arg in self.parameters:
                return self.parameters[arg]
            if self.template.get("Resources", {}).get(arg, {}).get("Type") == "AWS::Serverless::LayerVersion":
                return {"Ref": arg}  # a layer is a directory here, see function_spec
            raise _Unresolvable(arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::If":
            name, yes, no = arg
            return self.resolve(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if key == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(i) for i in self.resolve(items))
        if key == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            values = {k: self.resolve(v) for k, v in local.items()}

            def _one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name in values:
                    return str(values[name])
                return str(self.resolve({"Ref": name}))

            return re.sub(r"\$\{([^}]+)\}", _one, text)
        if key in ("Fn::GetAtt", "Fn::ImportValue", "Fn::GetAZs"):
            raise _Unresolvable(str(arg))
        return {key: self.resolve(arg)}


@dataclass(frozen=True)
class FunctionSpec:
    """What the emulator needs to know about one function of the template."""

    logical_id: str
    code_dir: Path
    handler: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    #: The function's layers as directories (a layer's ContentUri, resolved as
    #: CloudFormation would choose them for the given parameters).
    layer_dirs: tuple[Path, ...] = ()


def stack_parameters(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parameters' defaults and the pseudo parameters of a local stack, then ``overrides``
    (which may set pseudo parameters too, e.g. ``AWS::StackId``)."""
    params = {name: _stringify(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    params.update(
        {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "smartthumb-local",
            "AWS::StackId": STACK_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": "",
        }
    )
    params.update(overrides or {})
    return params


def resolve(template: Mapping[str, Any], value: Any, parameter_overrides: Mapping[str, str] | None = None) -> Any:
    """Evaluate ``value``'s intrinsic functions (and Conditions, Rules' assertions) for these parameters.

    Raises :class:`RunnerError` for what only a deployed stack knows (a resource's Ref or attribute).
    """
    try:
        return _Resolver(template, stack_parameters(template, parameter_overrides)).resolve(value)
    except _Unresolvable as exc:
        raise RunnerError(f"{exc} is only known to a deployed stack") from exc


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def function_spec(
    logical_id: str,
    *,
    template_path: Path = TEMPLATE,
    parameter_overrides: Mapping[str, str] | None = None,
    env_json: Path | None = ENV_JSON,
) -> FunctionSpec:
    """Read one ``AWS::Serverless::Function`` with its resolved environment.

    Variables whose value only a deployed stack knows resolve to "" (as ``sam
    local`` does); ``env_json`` (``sam local --env-vars`` format) then overrides
    declared variables, first from its ``Parameters`` section, then from the
    section named after the function.
    """
    template = load_template(template_path)
    resource = template["Resources"].get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        raise RunnerError(f"{logical_id} is not an AWS::Serverless::Function of {template_path}")
    resolver = _Resolver(template, stack_parameters(template, parameter_overrides))
    glob = template.get("Globals", {}).get("Function", {})
    props = {**glob, **resource.get("Properties", {})}
    variables: dict[str, Any] = {
        **glob.get("Environment", {}).get("Variables", {}),
        **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
    }
    environment: dict[str, str] = {}
    for name, raw in variables.items():
        try:
            environment[name] = _stringify(resolver.resolve(raw))
        except _Unresolvable:
            environment[name] = ""
    if env_json is not None and env_json.exists():
        overrides = json.loads(env_json.read_text(encoding="utf-8"))
        for section in ("Parameters", logical_id):
            for name, value in overrides.get(section, {}).items():
                if name in environment:
                    environment[name] = _stringify(value)
    layer_dirs = []
    for layer in resolver.resolve(props.get("Layers", [])):
        layer_id = layer.get("Ref") if isinstance(layer, dict) else None
        content = template["Resources"].get(layer_id or "", {}).get("Properties", {}).get("ContentUri")
        if not isinstance(content, str):
            raise RunnerError(f"{logical_id}: layer {layer!r} is not a layer of {template_path}")
        layer_dirs.append((template_path.parent / content).resolve())
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=(template_path.parent / str(resolver.resolve(props["CodeUri"]))).resolve(),
        handler=str(resolver.resolve(props["Handler"])),
        memory_mb=int(resolver.resolve(props.get("MemorySize", 128))),
        timeout_s=int(resolver.resolve(props.get("Timeout", 3))),
        environment=environment,
        layer_dirs=tuple(layer_dirs),
    )
