#!/bin/sh
# The `java` Beam's FlinkRunner starts its job server with (--job_server_java_launcher): PATH's java, else, inside
# the runtime sandbox (scripts/runtime.sh, which has no Java), the host's: chroot to DLQOS_HOST_ROOT, with every
# argument and classpath entry under DLQOS_HOST_ROOT rewritten to the host's own path. The network and /tmp are
# shared, so the job server reaches the SDK workers and Beam's artifact directory as they are. DLQOS_JAVA_PRELOAD (a library as this
# process sees it, pipeline/beam/flink.py: loopback_bind) is preloaded into the JVM.
preload=${DLQOS_JAVA_PRELOAD:-}
if command -v java >/dev/null 2>&1; then
  [ -n "$preload" ] && exec env LD_PRELOAD="$preload" java "$@"
  exec java "$@"
fi
root=${DLQOS_HOST_ROOT:-}
[ -n "$root" ] && [ -L "$root/usr/bin/java" -o -x "$root/usr/bin/java" ] || { echo "dlqos: no java on PATH and no host java (DLQOS_HOST_ROOT)" >&2; exit 2; }
for arg in "$@"; do
  shift
  case "$arg" in "$root"/*) arg=${arg#"$root"} ;; esac
  case "$arg" in *:"$root"/*) arg=$(printf '%s' "$arg" | sed "s#:$root/#:/#g") ;; esac  # a classpath's later entries
  set -- "$@" "$arg"
done
[ -n "$preload" ] && exec /usr/sbin/chroot "$root" /usr/bin/env LD_PRELOAD="${preload#"$root"}" /usr/bin/java "$@"
exec /usr/sbin/chroot "$root" /usr/bin/java "$@"
