# Sourced by the scripts that need the host's tools (podman, debootstrap, Maven): inside the runtime sandbox
# (scripts/runtime.sh exports DLQOS_HOST_ROOT, the host's root filesystem, and mounts the checkout and /tmp at the
# same paths) the calling script re-runs itself on the host; natively it just goes on.
run_on_host() {  # run_on_host "${BASH_SOURCE[0]}" "$@"
  [ -n "${DLQOS_HOST_ROOT:-}" ] || return 0
  local script; script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
  exec /usr/sbin/chroot "$DLQOS_HOST_ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DLQOS_CACHE="${DLQOS_CACHE:-}" "$script" "$@"
}
