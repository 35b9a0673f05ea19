#!/bin/sh
# The `java` Beam's FlinkRunner starts its job server with (--job_server_java_launcher): PATH's java, else, inside
# the runtime sandbox (scripts/runtime.sh, which has no Java), the host's: chroot to DLQOS_HOST_ROOT, with every
# argument under DLQOS_HOST_ROOT rewritten to the host's own path. The network and /tmp are shared, so the job
# server reaches the LOOPBACK SDK workers and Beam's artifact directory as they are.
command -v java >/dev/null 2>&1 && exec java "$@"
root=${DLQOS_HOST_ROOT:-}
[ -n "$root" ] && [ -L "$root/usr/bin/java" -o -x "$root/usr/bin/java" ] || { echo "dlqos: no java on PATH and no host java (DLQOS_HOST_ROOT)" >&2; exit 2; }
for arg in "$@"; do
  shift
  case "$arg" in "$root"/*) arg=${arg#"$root"} ;; esac
  set -- "$@" "$arg"
done
exec /usr/sbin/chroot "$root" /usr/bin/java "$@"
