#!/usr/bin/env bash
# podman.sh ARGS...: the host's podman with the project's own configuration (the image build, the image tests).
#
# Measured on Debian 12 (podman 4.3): crun fails on hybrid cgroups, so runc; runc cannot raise rlimits above the
# host's hard limit (20000), so explicit ulimits; cgroupfs and file events (no systemd session). Storage lives in
# the project's cache, not in /var/lib/containers. Inside the runtime sandbox (scripts/runtime.sh exports
# DLQOS_HOST_ROOT, the host's root filesystem), it runs on the host: containers need the host's kernel
# interfaces and podman, not the sandbox's.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
run_on_host "${BASH_SOURCE[0]}" "$@"

if [ "$(id -u)" = 0 ]; then CACHE=${DLQOS_CACHE:-/var/cache/dlqos}; else CACHE=${DLQOS_CACHE:-$HOME/.cache/dlqos}; fi
CONF_DIR="$CACHE/podman"

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "podman.sh: error: podman and runc are missing; install them (apt-get install podman runc)" >&2; exit 2; }
  echo "[podman] installing podman and runc from Debian" >&2
  { apt-get install -y -q podman runc || { apt-get update -q && apt-get install -y -q podman runc; }; } >/dev/null
fi

write_config() {  # rewritten only when it changes, so concurrent callers read a whole file
  local file=$1 text=$2
  [ "$(cat "$file" 2>/dev/null)" = "$text" ] && return
  printf '%s\n' "$text" > "$file.tmp.$$" && mv -f "$file.tmp.$$" "$file"
}
mkdir -p "$CONF_DIR/storage"
hard_limit() {  # hard_limit FLAG CAP: the host's hard limit, at most CAP (nproc above 32768 was refused here)
  local v; v=$(ulimit -H "$1"); if [ "$v" = unlimited ] || [ "$v" -gt "$2" ]; then v=$2; fi; echo "$v"; }
nofile=$(hard_limit -n 1048576) nproc=$(hard_limit -u 32768)
write_config "$CONF_DIR/containers.conf" "[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]
[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
write_config "$CONF_DIR/storage.conf" "[storage]
driver = \"overlay\"
graphroot = \"$CONF_DIR/storage\"
runroot = \"/run/dlqos-podman\""
export CONTAINERS_CONF="$CONF_DIR/containers.conf" CONTAINERS_STORAGE_CONF="$CONF_DIR/storage.conf"
exec podman "$@"
