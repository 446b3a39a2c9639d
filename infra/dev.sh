#!/usr/bin/env bash
# One entry point for a developer machine. Creates .venv on first use.
#   infra/dev.sh serve [args]   set up, then serve thumbnails from the sample store (smartthumb serve)
#   infra/dev.sh test [args]    set up, then run the whole test suite (pytest)
#   infra/dev.sh setup          only set up
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  # Re-install only when the dependency list changed since the last setup.
  stamp="$VENV/.smartthumb-setup"
  want=$(cat pyproject.toml infra/setup-tools.sh 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
    if [ -f infra/setup-tools.sh ]; then bash infra/setup-tools.sh; fi
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  serve) setup; exec "$VENV/bin/smartthumb" serve "$@" ;;
  test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: infra/dev.sh serve|test|setup [args]" >&2; exit 2 ;;
esac
