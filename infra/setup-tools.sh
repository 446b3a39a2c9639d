#!/usr/bin/env bash
# Installs the deploy/lint tool chain into its own venv, .venv-tools, apart from
# the project venv: aws-sam-cli pins boto3, click and others to versions the
# project does not use. Idempotent; a second run only checks a stamp.
#   bash infra/setup-tools.sh           install or refresh
#   TOOLS_VENV=/path bash infra/setup-tools.sh
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."
PY=${PYTHON:-python3}
VENV=${TOOLS_VENV:-.venv-tools}

# The tool pins live here, and the stamp hashes this file: edit a pin and the
# next run reinstalls.
PINS=(
  "aws-sam-cli==1.170.0"
  "cfn-lint==1.58.0"
  "cfn-lint-serverless==0.3.6"
)
# checkov cannot share a venv with aws-sam-cli (pip: ResolutionImpossible), so
# it has its own inside the tool venv; .venv-tools/bin/checkov links to it.
CHECKOV_PIN="checkov==3.3.30"
# What Lambda's python3.12 runtime has in /var/runtime, for infra/rie/run.py
# --built: awslambdaric (the runtime client) and an SDK older than the one the
# code needs (botocore 1.34.162 has no PutObject IfMatch/IfNoneMatch): the
# layer must bring its own, and the artifact test proves it does.
RUNTIME_PINS=(
  "awslambdaric==4.2.2"
  "simplejson==4.3.0"
  "snapshot-restore-py==1.0.0"
  "boto3==1.34.162"
  "botocore==1.34.162"
  "s3transfer==0.10.4"
  "jmespath==1.0.1"
  "python-dateutil==2.9.0.post0"
  "six==1.16.0"
  "urllib3==1.26.20"
)

stamp="$VENV/.smartthumb-tools"
want=$(sha256sum "$self" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/sam" ] && [ -x "$VENV/bin/checkov" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}"

# The Lambda Runtime Interface Emulator ships inside the aws-sam-cli wheel; the
# runner in infra/rie/ executes it directly, so it must be executable.
rie_dir=$("$VENV/bin/python" -c 'import pathlib, samcli; print(pathlib.Path(samcli.__file__).parent / "local" / "rapid")')
chmod +x "$rie_dir"/aws-lambda-rie-* 2>/dev/null || true

if [ ! -x "$VENV/checkov/bin/python" ]; then
  "$PY" -m venv "$VENV/checkov"
fi
"$VENV/checkov/bin/python" -m pip install -q --disable-pip-version-check "$CHECKOV_PIN"
ln -sf ../checkov/bin/checkov "$VENV/bin/checkov"

# Cross-installed as cp312 wheels for this machine, whatever Python runs this script.
runtime="$VENV/lambda-runtime/python3.12"
rm -rf "$runtime"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-compile \
  --only-binary=:all: --implementation cp --python-version 3.12 \
  --platform "manylinux_2_28_$(uname -m)" --platform "manylinux2014_$(uname -m)" \
  --target "$runtime" "${RUNTIME_PINS[@]}"

"$VENV/bin/sam" --version
"$VENV/bin/checkov" --version
echo "$want" > "$stamp"
