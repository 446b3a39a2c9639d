#!/usr/bin/env bash
# The Docker daemon `sam local` needs, on a machine without systemd (CI, these dev boxes).
#   bash infra/sam-local/dockerd.sh install   apt-get install docker.io debootstrap when missing (root + apt only)
#   bash infra/sam-local/dockerd.sh start     start dockerd unless a daemon already answers; fails with the reason
#   bash infra/sam-local/dockerd.sh stop      stop the dockerd that `start` started (never another one)
# The daemon's log: ${SMARTTHUMB_DOCKERD_LOG:-/var/log/smartthumb-dockerd.log}.
set -euo pipefail
PIDFILE=${SMARTTHUMB_DOCKERD_PIDFILE:-/run/smartthumb-dockerd.pid}
LOG=${SMARTTHUMB_DOCKERD_LOG:-/var/log/smartthumb-dockerd.log}
say() { echo "dockerd.sh: $*" >&2; }

install() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${missing[*]}; install them yourself (apt-get install ${missing[*]} as root)"
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

start() {
  docker info >/dev/null 2>&1 && return 0
  # One start at a time (several worktrees' set-ups may run at once).
  mkdir -p "$(dirname "$PIDFILE")"
  exec 9>"$PIDFILE.lock"
  flock 9
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null 2>&1 || { say "dockerd is not installed (bash $0 install)"; return 1; }
  [ "$(id -u)" = 0 ] || { say "no Docker daemon answers, and only root can start one"; return 1; }
  mkdir -p "$(dirname "$LOG")"
  # overlay2 is what works on these machines; dockerd's own pidfile guards against a second daemon.
  # Without the userland proxy a published port refuses connections until the container's
  # process listens; with it, the proxy accepts at once and `sam local` (which waits for a
  # connection, then sends the event) races the emulator's start: "No response from invoke
  # container" on a busy machine.
  nohup dockerd --storage-driver overlay2 --userland-proxy=false --pidfile "$PIDFILE" >>"$LOG" 2>&1 </dev/null 9>&- &
  local pid=$!
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "dockerd exited; the end of $LOG:"
      tail -n 15 "$LOG" >&2
      return 1
    fi
    sleep 0.5
  done
  say "dockerd did not answer within 30 s; the end of $LOG:"
  tail -n 15 "$LOG" >&2
  return 1
}

stop() {
  [ -s "$PIDFILE" ] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
