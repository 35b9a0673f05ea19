#!/usr/bin/env bash
# Run a command in the project's runtime: the TFX 1.21 stack installed from uv.lock.
#
# Hosts with glibc >= 2.38 get a native virtual environment (.venv). Older hosts (Debian 12 has
# 2.36, too old for the ml-metadata / TFDV wheels) get a cached Debian 13 root filesystem built
# with debootstrap; the checkout is bind-mounted at its own path and the command runs there.
# All mounts live in a private mount namespace, so the kernel undoes them when the command ends.
#
#   scripts/runtime.sh CMD [ARGS...]     run CMD (e.g. python -m dlqos study) in the runtime
#   scripts/runtime.sh --with-tools CMD  the same, with the tests' Debian tools in the sandbox (TOOL_PACKAGES)
#   scripts/runtime.sh --setup           only build / update the runtime
#
# DLQOS_RUNTIME=auto|native|sandbox forces the route; DLQOS_CACHE (default /var/cache/dlqos when
# root, else ~/.cache/dlqos) holds the root filesystem, the uv binary and uv's download cache.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UV_VERSION=0.13.9
DEBIAN_SUITE=trixie
DEBIAN_MIRROR=${DLQOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=python3,python3-venv,python3-dev,g++,ca-certificates,make
# Debian packages only the tests use beyond Python (installed with --with-tools): headless Chromium renders the
# study report; kubectl (with its built-in kustomize) renders the Kubernetes overlays.
TOOL_PACKAGES="chromium fonts-dejavu-core kubernetes-client"
if [ "$(id -u)" = 0 ]; then CACHE=${DLQOS_CACHE:-/var/cache/dlqos}; else CACHE=${DLQOS_CACHE:-$HOME/.cache/dlqos}; fi
LOCK_HASH=$(cat "$ROOT/uv.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)

log() { printf '[runtime] %s\n' "$*" >&2; }
die() { printf '[runtime] error: %s\n' "$*" >&2; exit 2; }

glibc_at_least() {  # glibc_at_least 2.38
  local have; have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$1" "$have" | sort -V | head -1)" = "$1" ]
}

choose_route() {
  case "${DLQOS_RUNTIME:-auto}" in
    native|sandbox) echo "$DLQOS_RUNTIME" ;;
    auto) if glibc_at_least 2.38; then echo native; else echo sandbox; fi ;;
    *) die "DLQOS_RUNTIME must be auto, native or sandbox (got '$DLQOS_RUNTIME')" ;;
  esac
}

ensure_uv() {  # a pinned uv for the host, in its own small venv
  UV="$CACHE/uv-$UV_VERSION/bin/uv"
  [ -x "$UV" ] && return
  log "installing uv $UV_VERSION into $CACHE/uv-$UV_VERSION"
  mkdir -p "$CACHE"
  python3 -m venv "$CACHE/uv-$UV_VERSION.tmp"
  "$CACHE/uv-$UV_VERSION.tmp/bin/python" -m pip install -q "uv==$UV_VERSION"
  rm -rf "$CACHE/uv-$UV_VERSION"; mv "$CACHE/uv-$UV_VERSION.tmp" "$CACHE/uv-$UV_VERSION"
  # venv scripts carry their absolute path: recreate after the move.
  python3 -m venv --upgrade "$CACHE/uv-$UV_VERSION" >/dev/null
  "$CACHE/uv-$UV_VERSION/bin/python" -m pip install -q --force-reinstall --no-deps "uv==$UV_VERSION"
}

# ---------------------------------------------------------------- native route
native_setup() {
  ensure_uv
  local venv="$ROOT/.venv"
  if [ "$(cat "$venv/.dlqos-lock" 2>/dev/null)" != "$LOCK_HASH" ]; then
    log "syncing $venv from uv.lock"
    (cd "$ROOT" && UV_SYSTEM_CERTS=1 UV_CACHE_DIR="$CACHE/uv-cache" "$UV" sync --locked --extra dev)
    echo "$LOCK_HASH" > "$venv/.dlqos-lock"
  fi
}

native_run() {
  native_setup
  [ $# -gt 0 ] || return 0
  export PATH="$ROOT/.venv/bin:$PATH" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  cd "$ROOT" && exec "$@"
}

# --------------------------------------------------------------- sandbox route
ROOTFS="$CACHE/rootfs-$DEBIAN_SUITE"

build_rootfs() {
  [ "$(id -u)" = 0 ] || die "the Debian 13 sandbox needs root (debootstrap, chroot, mounts); on a glibc >= 2.38 host use DLQOS_RUNTIME=native"
  [ -f "$ROOTFS/.dlqos-base" ] && return
  command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get install -y -q debootstrap >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }; }
  log "building Debian $DEBIAN_SUITE root filesystem in $ROOTFS (one-off, a few minutes)"
  rm -rf "$ROOTFS.tmp"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$DEBIAN_SUITE" "$ROOTFS.tmp" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap.log"
  date -u +%FT%TZ > "$ROOTFS.tmp/.dlqos-base"
  rm -rf "$ROOTFS"; mv "$ROOTFS.tmp" "$ROOTFS"
}

carry_host_config() {  # CA certificates of an intercepting proxy and DNS, refreshed every run
  cp -f /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
  local changed=0 crt
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] || continue
    cmp -s "$crt" "$ROOTFS/usr/local/share/ca-certificates/$(basename "$crt")" && continue
    cp -f "$crt" "$ROOTFS/usr/local/share/ca-certificates/"; changed=1
  done
  [ "$changed" = 0 ] || chroot "$ROOTFS" /usr/sbin/update-ca-certificates >/dev/null 2>&1
}

# The body below runs inside `unshare --mount`: every mount is private and vanishes on exit. The root filesystem
# is bind-mounted onto itself first, so that inside the chroot `/` is a mount point and the sandbox can nest
# (the tests run runtime.sh inside it).
sandbox_exec() {  # sandbox_exec CMD...: run CMD inside the root filesystem, checkout mounted
  local scratch rc=0; scratch=$(mktemp -d /tmp/dlqos.XXXXXX)
  export DLQOS_HOST_CACHE="$CACHE"
  supervise unshare --mount --propagation private -- /bin/bash -euc '
    rootfs=$1 root=$2 scratch=$3; shift 3
    mount --rbind "$rootfs" "$rootfs"
    # The host, where toolbox and flatpak put it: scripts/podman.sh and build-image.sh run podman there.
    mkdir -p "$rootfs/run/host"; mount --rbind / "$rootfs/run/host"; mount --make-rslave "$rootfs/run/host"
    mount -t proc proc "$rootfs/proc"
    mount --rbind /sys "$rootfs/sys"; mount --make-rslave "$rootfs/sys"
    mount --rbind /dev "$rootfs/dev"; mount --make-rslave "$rootfs/dev"
    mount --bind /tmp "$rootfs/tmp"   # host /tmp: paths under /tmp mean the same inside and out
    mkdir -p "$rootfs$root"; mount --bind "$root" "$rootfs$root"
    cd "$rootfs$root" >/dev/null
    exec chroot "$rootfs" /usr/bin/env -i \
      PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
      TMPDIR="$scratch" PYTHONPATH="$root" UV_CACHE_DIR=/var/cache/uv UV_SYSTEM_CERTS=1 \
      DLQOS_HOST_ROOT=/run/host DLQOS_CACHE="$DLQOS_HOST_CACHE" \
      ${DLQOS_PASS_ENV:-} /bin/bash -c "cd \"\$0\" && exec \"\$@\"" "$root" "$@"
  ' sandbox "$ROOTFS" "$ROOT" "$scratch" "$@" || rc=$?
  rm -rf "$scratch"
  return $rc
}

# A supervisor (Kubernetes, CI, a shell) signals this script, not the command in the sandbox: run the command in
# the background and pass TERM, INT and HUP on to it, then wait for it to finish. The command gets back the
# default INT/QUIT handling that bash takes from background jobs, keeps this script's stdin, and is killed if
# this script is (pdeathsig), so it never runs on unsupervised.
supervise() {  # supervise CMD...: run CMD, pass signals on, return its exit status
  setpriv --pdeathsig KILL env --default-signal=INT,QUIT "$@" <&0 &
  local child=$! signal
  for signal in TERM INT HUP; do trap "pass_on $signal $child" "$signal"; done
  while kill -0 "$child" 2>/dev/null; do wait "$child" || true; done  # a trapped signal interrupts wait
  trap - TERM INT HUP
  wait "$child"  # its exit status, kept by bash
}

pass_on() {  # pass_on SIGNAL PID; a Ctrl-C at the terminal has reached the command already (same process group)
  local stat; read -r -a stat < /proc/$$/stat
  [ "$1" = INT ] && [ "${stat[4]}" = "${stat[7]}" ] && return  # our process group is the terminal's foreground
  kill -s "$1" "$2" 2>/dev/null || true
}

sandbox_setup() {
  exec 9>"$CACHE/.lock"; flock 9   # one builder at a time; readers wait
  build_rootfs
  carry_host_config
  if [ "$WITH_TOOLS" = 1 ] && [ "$(cat "$ROOTFS/.dlqos-tools" 2>/dev/null)" != "$TOOL_PACKAGES" ]; then
    log "installing $TOOL_PACKAGES into the sandbox"
    sandbox_exec /bin/sh -c "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $TOOL_PACKAGES >/dev/null" \
      || die "apt-get install $TOOL_PACKAGES failed in the sandbox"
    echo "$TOOL_PACKAGES" > "$ROOTFS/.dlqos-tools"
  fi
  ensure_uv
  install -m 0755 "$UV" "$ROOTFS/usr/local/bin/uv"
  if [ "$(cat "$ROOTFS/opt/venv/.dlqos-lock" 2>/dev/null)" != "$LOCK_HASH" ]; then
    log "installing uv.lock into the sandbox's /opt/venv"
    sandbox_exec "$ROOT/scripts/install-deps.sh" /opt/venv /usr/bin/python3 dev \
      || die "installing the lock into the sandbox failed"
    echo "$LOCK_HASH" > "$ROOTFS/opt/venv/.dlqos-lock"
  fi
  flock -u 9
}

sandbox_run() {
  mkdir -p "$CACHE"
  sandbox_setup
  [ $# -gt 0 ] || return 0
  local rc=0
  sandbox_exec "$@" || rc=$?
  exit $rc
}

WITH_TOOLS=0
if [ "${1:-}" = "--with-tools" ]; then WITH_TOOLS=1; shift; fi
if [ "${1:-}" = "--setup" ]; then shift; set --; fi
case "$(choose_route)" in
  native) native_run "$@" ;;
  sandbox) sandbox_run "$@" ;;
esac
