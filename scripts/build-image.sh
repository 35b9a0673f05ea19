#!/usr/bin/env bash
# build-image.sh: build the dlqos image from the Dockerfile with podman, on hosts without a container registry.
#
# The Dockerfile's default base (python:3.13.5-slim-trixie) needs a registry. Here the base is made locally:
# Debian 13 minbase with python3 + pip (debootstrap), imported as localhost/dlqos-base:trixie, built once. The
# image is tagged localhost/dlqos:<version> and localhost/dlqos:git-<commit>; a rebuild reuses cached layers.
# The host's CA bundle (which trusts an intercepting proxy, if any) reaches the build as a secret, at build time
# only: the image carries neither those certificates nor an SSL_CERT_FILE.
#
#   scripts/build-image.sh            build (or reuse) the base, build the image, print its tags and size
# Env: DLQOS_CACHE (podman storage, see scripts/podman.sh), DLQOS_DEBIAN_MIRROR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/scripts/host.sh"
run_on_host "${BASH_SOURCE[0]}" "$@"  # inside the runtime sandbox: build on the host
PODMAN="$ROOT/scripts/podman.sh"
BASE_IMAGE=localhost/dlqos-base:trixie
MIRROR=${DLQOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)
COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD)
git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || COMMIT="$COMMIT-dirty"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "building the base needs root (debootstrap); on a host with a registry use: podman build ."

build_base() {
  "$PODMAN" image exists "$BASE_IMAGE" && return
  command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get install -y -q debootstrap >/dev/null; }
  local rootfs; rootfs=$(mktemp -d /var/tmp/dlqos-base.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "building $BASE_IMAGE with debootstrap (one-off, about 80 s)"
  debootstrap --variant=minbase --include=python3,python3-dev,python3-pip,ca-certificates trixie "$rootfs" "$MIRROR" \
    >"$rootfs.log" 2>&1 || die "debootstrap failed; see $rootfs.log"
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -c . | "$PODMAN" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
}

build_base
log "building localhost/dlqos:$VERSION (commit $COMMIT)"
"$PODMAN" build --pull=never --layers --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --secret id=build-ca,src=/etc/ssl/certs/ca-certificates.crt \
  --label org.opencontainers.image.version="$VERSION" --label org.opencontainers.image.revision="$COMMIT" \
  -t "localhost/dlqos:$VERSION" -t "localhost/dlqos:git-$COMMIT" -f "$ROOT/Dockerfile" "$ROOT" >&2
# Only the newest image is kept (older commit tags go); untagged layers stay a day as the build cache, then go:
# a dependency change otherwise leaves 3 GB behind each time.
"$PODMAN" images --format '{{.Repository}}:{{.Tag}}' localhost/dlqos | grep -v -x -e "localhost/dlqos:$VERSION" \
  -e "localhost/dlqos:git-$COMMIT" | xargs -r "$PODMAN" rmi >/dev/null 2>&1 || true
"$PODMAN" image prune --force --filter until=24h >/dev/null
size=$("$PODMAN" image inspect --format '{{.Size}}' "localhost/dlqos:$VERSION")
echo "localhost/dlqos:$VERSION localhost/dlqos:git-$COMMIT $(awk -v b="$size" 'BEGIN{printf "%.2f GB", b/1e9}')"
