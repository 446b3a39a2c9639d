"""Run a function of template.yaml under the real AWS Lambda Runtime Interface Emulator, without Docker.

What it does, as ``sam local invoke`` would inside its container:

* reads ``template.yaml`` (:mod:`infra.rie.template`) for the function's handler, memory, timeout and
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
script. Template reading is in :mod:`infra.rie.template`, the tools and moto's S3
in :mod:`infra.rie.local` (re-exported here); what remains is one class,
:class:`LocalLambda`, and the command line. Tests and
``tests/bench/bench_coldstart.py`` use :class:`LocalLambda` directly.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (or loaded by path): make the repository's `infra` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# Template reading (infra/rie/template.py), the tools and moto's S3 (infra/rie/local.py) live
# apart; their names are part of this module's interface.
from infra.rie.local import (
    LAMBDA_PYTHON,
    RUNTIME_PACKAGES,
    SAMPLES,
    LocalS3,
    find_python,
    find_rie,
    free_port,
    runtime_packages,
    wait_for_port,
)
from infra.rie.template import (
    ACCOUNT,
    ENV_JSON,
    REGION,
    REPO,
    STACK_ID,
    TEMPLATE,
    FunctionSpec,
    RunnerError,
    function_spec,
    load_template,
    resolve,
    stack_parameters,
)

__all__ = [
    "ACCOUNT",
    "ENV_JSON",
    "LAMBDA_PYTHON",
    "REGION",
    "REPO",
    "RUNTIME_PACKAGES",
    "SAMPLES",
    "STACK_ID",
    "TEMPLATE",
    "FunctionSpec",
    "InvokeResult",
    "LocalLambda",
    "LocalS3",
    "RunnerError",
    "find_python",
    "find_rie",
    "free_port",
    "function_spec",
    "load_template",
    "local_stack",
    "main",
    "resolve",
    "runtime_packages",
    "stack_parameters",
]

LAYER_SOURCE = REPO / "layers" / "imaging" / "python"
MODELS_SOURCE = REPO / "layers" / "imaging" / "models"
BUILT = REPO / ".aws-sam" / "build"
BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap.py"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


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
        wait_for_port(self.port, time.monotonic() + 15, self._proc)
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
