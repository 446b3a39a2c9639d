#!/usr/bin/env bash
# Builds the local, offline stand-in for public.ecr.aws/lambda/python:3.12 that
# `sam local invoke|start-api --invoke-image IMAGE --skip-pull-image` runs
# (see infra/sam-local/README.md: a Debian bookworm userland, not Amazon Linux 2023).
#
#   bash infra/sam-local/build-base-image.sh     build if missing; prints the image name last
#
# Idempotent: the image tag carries a hash of everything that goes into it (this
# script, bootstrap, bootstrap.py, the interpreter, the pins), so a second run is
# one `docker image inspect`. The architecture is the machine's own (the
# interpreter is copied from it): x86_64 here, arm64 on an arm64 machine.
#
#   PYTHON312=/path/python3.12   the interpreter copied to /var/lang (default: pyenv's 3.12)
#   DEBIAN_MIRROR=URL            debootstrap's mirror (default: the one apt uses)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log() { echo "build-base-image: $*" >&2; }

# Pins of the runtime's own packages (/var/runtime), as pyproject.toml pins them.
PINS=("awslambdaric==4.2.2" "boto3==1.43.11")
REPO_NAME=smartthumb-lambda-python

case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) log "unsupported machine $(uname -m)"; exit 2 ;;
esac

py=${PYTHON312:-}
if [ -z "$py" ]; then
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  py=$(ls -d "$root"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -n1 || true)
fi
if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
  log "no Python 3.12 found (set PYTHON312=/path/to/python3.12)"
  exit 2
fi
prefix=$("$py" -c 'import sys; print(sys.base_prefix)')

hash=$(
  {
    cat "$0" "$here/bootstrap" "$here/bootstrap.py"
    printf '%s\n' "${PINS[@]}" "$arch"
    "$py" -VV
    sha256sum "$prefix/lib/libpython3.12.so.1.0" 2>/dev/null || sha256sum "$py"
  } | sha256sum | cut -c1-12
)
image="$REPO_NAME:3.12-$arch-$hash"

if ! docker info >/dev/null 2>&1; then
  log "Docker is not reachable (docker info failed); start dockerd first (infra/sam-local/dockerd.sh start)"
  exit 3
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
# One build at a time (several worktrees' set-ups may run at once); the winner's image is reused.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/smartthumb
mkdir -p "$cache"
exec 9>"$cache/build-base-image.lock"
flock 9
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

for tool in debootstrap tar; do
  command -v "$tool" >/dev/null || { log "$tool is missing (apt-get install debootstrap)"; exit 2; }
done
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
start=$(date +%s)
# debootstrap's tree is cached apart (it depends only on the suite, the packages and
# the architecture), so a change of bootstrap or pins rebuilds in seconds.
packages=libssl3,libffi8,libsqlite3-0,libexpat1,libreadline8,libncursesw6,libnsl2,libuuid1
base_tar="$cache/debootstrap-bookworm-minbase-$arch-$(echo "$packages" | sha256sum | cut -c1-12).tar"
if [ ! -s "$base_tar" ]; then
  log "debootstrap bookworm ($arch) from $mirror"
  # The shared libraries the interpreter's extension modules link (ssl, sqlite3, ctypes, ...).
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc "$rootfs"/usr/share/man
  tar -C "$rootfs" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
else
  log "debootstrap tree from $base_tar"
  mkdir -p "$rootfs" && tar -C "$rootfs" -xf "$base_tar"
fi

log "Python $("$py" -c 'import platform; print(platform.python_version())') from $prefix to /var/lang"
mkdir -p "$rootfs/var/lang" "$rootfs/var/runtime" "$rootfs/var/task" "$rootfs/opt"
tar -C "$prefix" \
  --exclude=lib/python3.12/test --exclude=lib/python3.12/idlelib --exclude=lib/python3.12/tkinter \
  --exclude=lib/python3.12/turtledemo --exclude='lib/python3.12/lib-dynload/_tkinter*' \
  --exclude='lib/python3.12/config-3.12-*' --exclude='lib/python3.12/site-packages/*' \
  --exclude=lib/pkgconfig --exclude=include --exclude=share \
  -cf - bin lib | tar -C "$rootfs/var/lang" -xf -
ln -sf python3.12 "$rootfs/var/lang/bin/python3"

log "runtime packages for 3.12 into /var/runtime: ${PINS[*]}"
PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q --disable-pip-version-check --no-compile --only-binary=:all: \
  --target "$rootfs/var/runtime" "${PINS[@]}" 2>&1 | { grep -v "^WARNING: Location" >&2 || true; }
rm -rf "$rootfs/var/runtime/bin"
install -m 0755 "$here/bootstrap" "$rootfs/var/runtime/bootstrap"
install -m 0644 "$here/bootstrap.py" "$rootfs/var/runtime/bootstrap.py"
# The runtime's files are precompiled, as in AWS's image (its /var/runtime is read-only).
chroot "$rootfs" /usr/bin/env LD_LIBRARY_PATH=/var/lang/lib /var/lang/bin/python3.12 -m compileall -q /var/runtime >/dev/null

# The interpreter must start inside the tree, with the tree's libraries only.
chroot "$rootfs" /usr/bin/env -i LD_LIBRARY_PATH=/var/lang/lib PYTHONPATH=/var/runtime /var/lang/bin/python3.12 -c \
  'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, boto3, awslambdaric' || { log "the image's Python is broken"; exit 1; }

log "docker import $image"
tar -C "$rootfs" -c . | docker import \
  -c 'WORKDIR /var/task' \
  -c 'ENV LANG=en_US.UTF-8 TZ=:/etc/localtime PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  -c 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  -c 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime' \
  -c 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
  -m "smartthumb: local stand-in for public.ecr.aws/lambda/python:3.12 (Debian bookworm userland)" \
  - "$image" >/dev/null
docker tag "$image" "$REPO_NAME:3.12-$arch"
# Older builds of this architecture are superseded: untag them (their layers go with them).
docker images --format '{{.Repository}}:{{.Tag}}' "$REPO_NAME" | grep "^$REPO_NAME:3.12-$arch-" | grep -vx "$image" |
  xargs -r docker rmi >/dev/null 2>&1 || true
log "built $image in $(($(date +%s) - start)) s"
echo "$image"
