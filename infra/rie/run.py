"""Run a function of template.yaml under the real AWS Lambda Runtime Interface Emulator, without Docker.

What it does, as ``sam local invoke`` would inside its container:

* reads ``template.yaml`` for the function's handler, memory, timeout and
  environment (Globals merged with the function's own variables, intrinsic
  functions resolved against the parameter defaults), then overlays
  ``infra/env.json`` the way ``sam local --env-vars`` does (only variables the
  template declares);
* lays out a Lambda-like tree in a temporary directory: ``var/task`` is the
  function's code, built by its own Makefile; ``opt/python`` is the layer;
* starts ``aws-lambda-rie`` (the emulator binary shipped inside the
  aws-sam-cli wheel, installed in ``.venv-tools`` by ``infra/setup-tools.sh``)
  with ``python -m awslambdaric <handler>`` on free 127.0.0.1 ports, the
  runtime's environment cleared of the caller's variables, and
  ``PYTHONPATH=var/task:opt/python`` (Lambda's order: function, then layer,
  then the runtime's own packages);
* serves S3 from moto's ``ThreadedMotoServer`` on 127.0.0.1 through boto3's
  ``AWS_ENDPOINT_URL_S3`` with fake credentials in us-east-1.

The layer, two ways:

* default (``source``): ``opt/python`` holds links to the repository's
  ``layers/imaging/python/smartthumb`` and ``layers/imaging/models`` (as
  ``smartthumb_models``); the third-party packages come from the project venv,
  whose interpreter runs the function. Fast, and always the working tree.
* ``--layer-dir DIR``: ``DIR`` is used as ``/opt/python`` as is, e.g. a layer
  built for this machine's Python by ``make -C layers/imaging build-ImagingLayer
  LAYER_PYTHON=3.11 ARTIFACTS_DIR=...`` (``DIR`` is then ``ARTIFACTS_DIR/python``).

What deploys (``--built [DIR]``, default ``.aws-sam/build``): the output of
``sam build`` run as Lambda's python3.12 runtime runs it. The handler, the
environment and the layer come from the *built* template (``DIR/template.yaml``,
with ``--param Architecture=...`` choosing the layer as CloudFormation would);
``var/task`` is ``DIR/<function>``, ``opt/python`` the built layer, and the
interpreter a Python 3.12 (``--python``; found on ``PATH`` or in pyenv's
versions folder when not given). It starts isolated (``python -I -S``, see
``infra/rie/bootstrap.py``): ``sys.path`` is the function code, the layer, the
runtime's own packages (``awslambdaric`` and an SDK as old as the runtime may
ship, installed in ``.venv-tools/lambda-runtime/`` by ``infra/setup-tools.sh``)
and the standard library; nothing of this repository or its venvs.

Examples::

    .venv/bin/python infra/rie/run.py ThumbnailFunction --seed-samples -e infra/events/th_fit.json --out /tmp/th.jpg
    .venv/bin/python infra/rie/run.py AnalyzeFunction --seed-samples -e infra/events/analyze_s3_put.json
    .venv/bin/python infra/rie/run.py ThumbnailFunction --seed-samples --keep-running   # then POST events yourself
    .venv-tools/bin/sam build
    .venv/bin/python -m infra.rie.run ThumbnailFunction --built --seed-samples -e infra/events/th_fit.json

Importable as ``infra.rie.run`` from the repository root (tests do); also a
script. Tests and ``tests/bench/bench_coldstart.py`` use :class:`LocalLambda` directly.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
ENV_JSON = REPO / "infra" / "env.json"
LAYER_SOURCE = REPO / "layers" / "imaging" / "python"
MODELS_SOURCE = REPO / "layers" / "imaging" / "models"
SAMPLES = LAYER_SOURCE / "smartthumb" / "samples"
BUILT = REPO / ".aws-sam" / "build"
BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap.py"
#: Lambda's runtime for template.yaml's functions, and what stands in for its /var/runtime.
LAMBDA_PYTHON = "3.12"
RUNTIME_PACKAGES = REPO / ".venv-tools" / "lambda-runtime" / f"python{LAMBDA_PYTHON}"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/smartthumb-local/00000000-0000-4000-8000-000000000000"


class RunnerError(RuntimeError):
    """The template, the emulator or the tools are not as expected."""


# --- template reading ---------------------------------------------------------------


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


# --- tools ------------------------------------------------------------------------------


def find_rie() -> Path:
    """The emulator binary for this machine: $SMARTTHUMB_RIE, else the one in .venv-tools' aws-sam-cli."""
    explicit = os.environ.get("SMARTTHUMB_RIE")
    if explicit:
        return Path(explicit)
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    hits = sorted((REPO / ".venv-tools").glob(f"lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    if not hits:
        raise RunnerError("aws-lambda-rie not found: run `bash infra/setup-tools.sh` (installs aws-sam-cli)")
    return hits[-1]


def find_python(version: str = LAMBDA_PYTHON) -> str:
    """An interpreter of exactly ``version``: $SMARTTHUMB_LAMBDA_PYTHON, ``pythonX.Y`` on PATH,
    else the newest ``X.Y.*`` in pyenv's versions folder (``pyenv root``, $PYENV_ROOT or ~/.pyenv)."""
    candidates = [os.environ.get("SMARTTHUMB_LAMBDA_PYTHON", ""), shutil.which(f"python{version}") or ""]
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip())
    for root in filter(None, roots):
        found = sorted(
            Path(root).glob(f"versions/{version}.*/bin/python{version}"),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parents[1].name.split(".")],
        )
        candidates += [str(p) for p in reversed(found)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise RunnerError(f"no Python {version} found (PATH, pyenv's versions folder): set SMARTTHUMB_LAMBDA_PYTHON")


def runtime_packages() -> Path:
    """What Lambda's python3.12 runtime puts on ``sys.path`` after the layer (its /var/runtime)."""
    if not (RUNTIME_PACKAGES / "awslambdaric").is_dir():
        raise RunnerError(f"{RUNTIME_PACKAGES} is missing: run `bash infra/setup-tools.sh`")
    return RUNTIME_PACKAGES


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, deadline: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RunnerError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RunnerError(f"nothing listens on 127.0.0.1:{port}")


# --- S3 --------------------------------------------------------------------------------


class LocalS3:
    """moto's S3 server on a free 127.0.0.1 port, with the buckets the function expects."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3:
        self._server.start()
        _wait_for_port(self.port, time.monotonic() + 10)
        # moto's backends are process-wide: without a reset, a second server in the same
        # process (another test module) would start with the first one's buckets and objects.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def prepare(self, environment: Mapping[str, str], *, seed_samples: bool = False) -> None:
        """Create SOURCE_BUCKET and ANALYSIS_BUCKET; optionally upload the sample images under SOURCE_PREFIX."""
        s3 = self.client()
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in {environment.get("SOURCE_BUCKET", ""), environment.get("ANALYSIS_BUCKET", "")} - {""}:
            if name not in existing:
                s3.create_bucket(Bucket=name)
        if seed_samples and environment.get("SOURCE_BUCKET"):
            for image in sorted(SAMPLES.glob("*.jpg")):
                s3.upload_file(
                    str(image), environment["SOURCE_BUCKET"], environment.get("SOURCE_PREFIX", "") + image.name
                )


# --- the emulator --------------------------------------------------------------------


@dataclass
class InvokeResult:
    """One invocation: the function's JSON answer and the client-side wall time."""

    payload: Any
    wall_ms: float

    @property
    def is_error(self) -> bool:
        return isinstance(self.payload, dict) and "errorType" in self.payload and "errorMessage" in self.payload


_INVOKE_DONE = re.compile(r"INVOKE RTDONE\(status: \w+, produced bytes: \d+, duration: ([0-9.]+)ms\)")
_INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
# "REPORT RequestId: <id>\t[Init Duration: <n> ms\t]Duration: <n> ms\t..."
_REPORT = re.compile(r"^REPORT RequestId: [^\t]+\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms", re.MULTILINE)


class LocalLambda:
    """One function of the template in the real emulator, with a Lambda-like directory tree.

    Use as a context manager; :meth:`invoke` POSTs an event to the emulator's
    invocations endpoint. The emulator starts the runtime (and so runs the
    function's init) on the first invocation, as Lambda does on a cold start.
    """

    def __init__(
        self,
        logical_id: str,
        *,
        s3_endpoint: str | None = None,
        layer_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        env_json: Path | None = ENV_JSON,
        python: str | None = None,
        built: Path | None = None,
    ) -> None:
        """``built``: a ``sam build`` output directory to run as deployed (see the module docstring);
        ``python``: the interpreter (``built`` defaults it to a Python 3.12, and runs it isolated)."""
        template = (built / "template.yaml") if built is not None else TEMPLATE
        self.spec = function_spec(
            logical_id, template_path=template, parameter_overrides=parameter_overrides, env_json=env_json
        )
        self.built = built
        if built is not None and layer_dir is None:
            if len(self.spec.layer_dirs) != 1:
                raise RunnerError(f"{logical_id} in {template} has {len(self.spec.layer_dirs)} layers, expected 1")
            layer_dir = self.spec.layer_dirs[0] / "python"
        self.s3_endpoint = s3_endpoint
        self.layer_dir = layer_dir
        self.extra_env = dict(extra_env or {})
        self.python = python or (find_python() if built is not None else sys.executable)
        #: Lambda's sys.path and nothing else (python -I -S with infra/rie/bootstrap.py): for a
        #: built layer on another interpreter. The source layer needs this venv's packages.
        self.isolated = built is not None or python is not None
        if self.isolated and layer_dir is None:
            raise RunnerError("another interpreter needs a built layer: give built= (--built) or layer_dir=")
        self.port = 0
        self.root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{INVOKE_PATH}"

    def environment(self) -> dict[str, str]:
        """The runtime's whole environment: the template's variables plus what Lambda itself sets."""
        assert self.root is not None
        task, opt = self.root / "var" / "task", self.root / "opt" / "python"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": str(self.root),
            **self.spec.environment,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": self.spec.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.spec.timeout_s),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.spec.logical_id}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "LAMBDA_TASK_ROOT": str(task),
            "LAMBDA_RUNTIME_DIR": str(runtime_packages()) if self.isolated else "",
            # As under `sam local`: Powertools turns the X-Ray tracer off.
            "AWS_SAM_LOCAL": "true",
            "PYTHONPATH": f"{task}{os.pathsep}{opt}",
            "PYTHONUNBUFFERED": "1",
        }
        if self.s3_endpoint:
            env["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint
        env.update(self.extra_env)
        return env

    def _lay_out(self) -> None:
        assert self.root is not None
        task = self.root / "var" / "task"
        task.mkdir(parents=True)
        makefile = self.spec.code_dir / "Makefile"
        if self.built is not None:
            shutil.copytree(self.spec.code_dir, task, dirs_exist_ok=True)  # already built by sam build
        elif makefile.exists():
            # The function's own build (BuildMethod: makefile) fills /var/task.
            subprocess.run(
                ["make", "-s", "-f", str(makefile), f"build-{self.spec.logical_id}", f"ARTIFACTS_DIR={task}"],
                check=True,
                cwd=self.spec.code_dir,
            )
        else:
            shutil.copytree(self.spec.code_dir, task, dirs_exist_ok=True)
        opt = self.root / "opt" / "python"
        if self.layer_dir is not None:
            opt.parent.mkdir(parents=True)
            opt.symlink_to(self.layer_dir.resolve(), target_is_directory=True)
        else:
            opt.mkdir(parents=True)
            (opt / "smartthumb").symlink_to(LAYER_SOURCE / "smartthumb", target_is_directory=True)
            (opt / "smartthumb_models").symlink_to(MODELS_SOURCE, target_is_directory=True)

    def prepare(self) -> Path:
        """Lay out var/task and opt/python in a fresh temporary directory (once); :meth:`stop` removes it."""
        if self.root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"rie-{self.spec.logical_id}-")
            self.root = Path(self._tmp.name)
            self._lay_out()
        return self.root

    def run_python(
        self, code: str, *, flags: tuple[str, ...] = (), timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in this function's layout and environment, on the path the runtime would see
        (isolated: through ``bootstrap.py -c``), with ``var/task`` as the working directory."""
        root = self.prepare()
        if self.isolated:
            args = [self.python, "-I", "-S", *flags, str(BOOTSTRAP), "-c", code]
        else:
            args = [self.python, *flags, "-c", code]
        return subprocess.run(
            args,
            cwd=root / "var" / "task",
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def imported_packages(self, timeout: float = 120) -> set[str]:
        """Top-level packages ``import app`` loads in this function's Lambda layout
        (``python -X importtime``): what its cold start pays for."""
        result = self.run_python("import app", flags=("-X", "importtime"), timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"import app failed: {result.stderr[-3000:]}")
        return {
            line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }

    def runtime_command(self) -> list[str]:
        """How the emulator starts the runtime: ``python -m awslambdaric <handler>``, as Lambda's bootstrap does."""
        if self.isolated:
            return [self.python, "-I", "-S", "-u", str(BOOTSTRAP), self.spec.handler]
        return [self.python, "-m", "awslambdaric", self.spec.handler]

    def start(self) -> LocalLambda:
        self.prepare()
        assert self.root is not None
        self.port = free_port()
        runtime_api = free_port()
        self._log_path = self.root / "emulator.log"
        log = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            [
                str(find_rie()),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{runtime_api}",
                *self.runtime_command(),
            ],
            cwd=self.root / "var" / "task",
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait_for_port(self.port, time.monotonic() + 15, self._proc)
        return self

    def invoke(self, event: Any, *, timeout: float | None = None) -> InvokeResult:
        """POST one event; the answer is the function's return value (or Lambda's error object)."""
        body = json.dumps(event).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.spec.timeout_s + 30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:  # the emulator answers 4xx/5xx for runtime failures
            raw = exc.read()
        wall_ms = (time.perf_counter() - started) * 1000
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw.decode(errors="replace")
        return InvokeResult(payload, wall_ms)

    def invoke_file(self, path: Path, **kwargs: Any) -> InvokeResult:
        return self.invoke(json.loads(path.read_text(encoding="utf-8")), **kwargs)

    def runtime_cpu_seconds(self) -> float:
        """User + system CPU time the runtime process (the emulator's child: python, all its
        threads) has used so far; 0 before the first invocation starts it. Linux only."""
        if self._proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self._proc.pid:  # ppid
                    total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        return total

    def logs(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def init_durations_ms(self) -> list[float]:
        """The emulator's ``INIT REPORT`` durations: runtime start plus the handler module's import."""
        return [float(m) for m in _INIT_REPORT.findall(self.logs())]

    def invoke_durations_ms(self) -> list[float]:
        """``REPORT`` durations, one per invocation (the first includes the lazy init in this emulator)."""
        return [float(m) for m in _REPORT.findall(self.logs())]

    def handler_durations_ms(self) -> list[float]:
        """The emulator's ``INVOKE RTDONE`` durations: the handler call alone, without the init."""
        return [float(m) for m in _INVOKE_DONE.findall(self.logs())]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.root = None

    def __enter__(self) -> LocalLambda:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_stack(logical_id: str, *, seed_samples: bool = False, **kwargs: Any) -> Iterator[tuple[LocalLambda, LocalS3]]:
    """A moto S3 with the function's buckets, and the function in the emulator pointed at it."""
    s3 = LocalS3().start()
    try:
        fn = LocalLambda(logical_id, s3_endpoint=s3.endpoint, **kwargs)
        s3.prepare({**fn.spec.environment, **fn.extra_env}, seed_samples=seed_samples)
        with fn:
            yield fn, s3
    finally:
        s3.stop()


# --- command line --------------------------------------------------------------------


def _print_result(result: InvokeResult, out: Path | None) -> None:
    payload = result.payload
    if isinstance(payload, dict) and payload.get("isBase64Encoded") and isinstance(payload.get("body"), str):
        data = base64.b64decode(payload["body"])
        if out is not None:
            out.write_bytes(data)
        shown = {**payload, "body": f"<{len(data)} bytes{f' written to {out}' if out else ''}>"}
        print(json.dumps(shown, indent=2))
    else:
        print(json.dumps(payload, indent=2) if not isinstance(payload, str) else payload)
    print(f"# {result.wall_ms:.1f} ms", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. ThumbnailFunction")
    parser.add_argument("-e", "--event", type=Path, action="append", default=[], help="event file; repeatable")
    parser.add_argument("--out", type=Path, help="write a base64 response body (decoded) to this file")
    parser.add_argument("--layer-dir", type=Path, help="a built layer's python/ directory to use as /opt/python")
    parser.add_argument(
        "--built",
        type=Path,
        nargs="?",
        const=BUILT,
        help="run the `sam build` output in DIR (default .aws-sam/build) as deployed, isolated, on Python 3.12",
    )
    parser.add_argument("--python", help="interpreter running the function (default: this one; 3.12 with --built)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="template parameter override"
    )
    parser.add_argument("--s3-endpoint", help="use this S3 endpoint instead of starting moto")
    parser.add_argument("--seed-samples", action="store_true", help="upload the sample images under SOURCE_PREFIX")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="extra environment")
    parser.add_argument("--keep-running", action="store_true", help="serve until Ctrl-C, printing the invoke URL")
    parser.add_argument("--logs", action="store_true", help="print the emulator's log at the end")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.set)
    options: dict[str, Any] = {
        "layer_dir": args.layer_dir,
        "extra_env": extra,
        "built": args.built,
        "python": args.python,
        "parameter_overrides": dict(item.split("=", 1) for item in args.param),
    }

    with contextlib.ExitStack() as stack:
        if args.s3_endpoint:
            fn = stack.enter_context(LocalLambda(args.function, s3_endpoint=args.s3_endpoint, **options))
        else:
            fn, _ = stack.enter_context(local_stack(args.function, seed_samples=args.seed_samples, **options))
        for event in args.event:
            _print_result(fn.invoke_file(event), args.out)
        if args.keep_running:
            print(f"POST events to {fn.url}  (Ctrl-C stops)", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        if args.logs:
            print(fn.logs(), file=sys.stderr)
        for ms in fn.init_durations_ms():
            print(f"# INIT REPORT {ms:.1f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
