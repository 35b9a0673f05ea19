#!/usr/bin/env bash
# Put Beam's Flink job server jar (what `dlqos run --runner flink` runs) into the runtime cache, pinned and
# sha256-checked, so that Beam never downloads an unpinned jar at run time. Maven (the ordinary client, its
# configured repositories) fetches the artifact; the jar lands in $CACHE/flink/ and, when the Debian 13 sandbox
# exists, in the sandbox's /var/cache/dlqos/flink/ too (the path dlqos.runners.flink looks in, inside or out).
#
#   scripts/fetch-flink-job-server.sh           fetch and verify the pinned jar (no-op when already there)
#   scripts/fetch-flink-job-server.sh --pin     fetch it and print its sha256, to pin below (trust on first use)
#
# The versions must match dlqos/runners/flink.py (BEAM_VERSION, FLINK_VERSION): the job server's Beam version
# is the SDK's (uv.lock).
set -euo pipefail

BEAM_VERSION=2.77.0
FLINK_VERSION=1.19
ARTIFACT=beam-runners-flink-$FLINK_VERSION-job-server
# Empty: not pinned yet. On 2026-11-30 Maven Central's mirror here served no Beam Flink job server jar at all
# (HTTP 404 for beam-runners-flink-{1.16..1.20,2.0..2.2}-job-server at Beam 2.53.0..2.77.0, and no
# maven-metadata.xml for any of them), so there was nothing to check a sha256 against.
SHA256=""

if [ "$(id -u)" = 0 ]; then CACHE=${DLQOS_CACHE:-/var/cache/dlqos}; else CACHE=${DLQOS_CACHE:-$HOME/.cache/dlqos}; fi
JAR="$CACHE/flink/$ARTIFACT-$BEAM_VERSION.jar"
SANDBOX_DIR="$CACHE/rootfs-trixie/var/cache/dlqos/flink"

log() { printf '[flink] %s\n' "$*" >&2; }
die() { printf '[flink] error: %s\n' "$*" >&2; exit 2; }

fetch() {  # fetch DEST: the pinned artifact from Maven into DEST (a temporary name, renamed when verified)
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch $ARTIFACT: apt-get install maven"
  mvn -q -B dependency:copy -Dartifact="org.apache.beam:$ARTIFACT:$BEAM_VERSION:jar" \
    -DoutputDirectory="$(dirname "$1")" -Dmdep.stripVersion=false >&2 \
    || die "Maven could not fetch org.apache.beam:$ARTIFACT:$BEAM_VERSION (not served by its repositories?)"
  mv "$(dirname "$1")/$ARTIFACT-$BEAM_VERSION.jar" "$1"
}

install_jar() {  # a verified jar into the cache and, when there is one, into the sandbox's cache
  mkdir -p "$(dirname "$JAR")"
  [ -f "$JAR" ] && echo "$SHA256  $JAR" | sha256sum -c --quiet - 2>/dev/null && log "$JAR is in place" && return
  local tmp="$JAR.part"; rm -f "$tmp"
  fetch "$tmp"
  echo "$SHA256  $tmp" | sha256sum -c --quiet - || { rm -f "$tmp"; die "sha256 mismatch for $ARTIFACT-$BEAM_VERSION.jar"; }
  mv "$tmp" "$JAR"
  log "verified $JAR"
}

link_into_sandbox() {
  [ -d "$CACHE/rootfs-trixie" ] || return 0
  mkdir -p "$SANDBOX_DIR"
  ln -f "$JAR" "$SANDBOX_DIR/" 2>/dev/null || cp -f "$JAR" "$SANDBOX_DIR/"
}

if [ "${1:-}" = "--pin" ]; then
  tmp=$(mktemp -d); fetch "$tmp/jar"; sha256sum "$tmp/jar" | cut -d' ' -f1; rm -rf "$tmp"; exit 0
fi
[ -n "$SHA256" ] || die "no sha256 pinned for org.apache.beam:$ARTIFACT:$BEAM_VERSION in $0 (not served here on 2026-11-30); run $0 --pin where Maven serves it and pin the result"
install_jar
link_into_sandbox
