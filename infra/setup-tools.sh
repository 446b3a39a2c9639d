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

stamp="$VENV/.smartthumb-tools"
want=$(sha256sum "$self" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/sam" ]; then
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

"$VENV/bin/sam" --version
echo "$want" > "$stamp"
