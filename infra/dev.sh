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
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
    echo "$want" > "$stamp"
  fi
}

# What only the tests need (SAM CLI, cfn-lint, ...): idempotent, instant once done.
setup_test_tools() {
  bash infra/setup-tools.sh
  setup_browser
  setup_docker
}

# tests/samlocal runs the SAM CLI's `sam local` in Docker: install docker.io and
# debootstrap (root with apt only), start dockerd when no daemon answers, and build
# the local python3.12 base image (infra/sam-local/; cached, instant once built).
# A failure is reported and set-up goes on: those tests then fail with the reason.
setup_docker() {
  bash infra/sam-local/dockerd.sh install && bash infra/sam-local/dockerd.sh start &&
    bash infra/sam-local/build-base-image.sh >/dev/null ||
    echo "infra/dev.sh: the sam local set-up failed (above); tests/samlocal will fail" >&2
}

# The preview-page test runs Debian's headless Chromium: install it when missing,
# only as root on an apt system (elsewhere, install it yourself).
setup_browser() {
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup; setup_test_tools ;;
  serve) setup; exec "$VENV/bin/smartthumb" serve "$@" ;;
  test) setup; setup_test_tools; exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: infra/dev.sh serve|test|setup [args]" >&2; exit 2 ;;
esac
