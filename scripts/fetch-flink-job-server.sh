#!/usr/bin/env bash
# Put Beam's Flink job server (what `dlqos run --runner flink` runs) into the runtime cache, every jar pinned by
# sha256. Maven Central here serves no beam-runners-flink-<v>-job-server jar (2026-11-30: none for Beam 2.53-2.77),
# so Maven resolves the plain runner library org.apache.beam:beam-runners-flink-1.19:2.62.0 and its dependencies
# (scripts/flink-job-server/pom.xml), each jar is checked against scripts/flink-job-server/jars.sha256, and a
# manifest-only job-server.jar (Main-Class FlinkJobServerDriver, Class-Path: the checked jars) makes the set
# runnable with `java -jar`, which is how Beam's FlinkRunner starts and stops a job server.
#
# Version skew: the job server is Beam Java 2.62.0, the Python SDK 2.77.0 (uv.lock). Measured to run these
# pipelines' data components; not a combination Beam supports.
#
# The job server set also builds dlqos-flink.jar (scripts/flink-job-server/java, with the host's JDK): the job server
# option that submits jobs without shipping its classpath to a cluster that already holds it (pipeline/beam/flink.py).
#
# Both also build loopback-bind.so (scripts/flink-job-server/loopback_bind.c, with the host's C compiler), which the
# JVMs of a local run preload so that they listen on the loopback interface only (pipeline/beam/java.sh).
#
# `cluster` does the same for a Flink 1.19.0 cluster's classpath (scripts/flink-cluster/pom.xml: the modules
# flink-dist bundles, which Maven Central does not serve as one jar) and writes cluster.jar, the classpath that
# pipeline/beam/flink_cluster.py starts a JobManager and a TaskManager with.
#
#   scripts/fetch-flink-job-server.sh [cluster]         fetch and verify into $CACHE/flink/ (no-op when verified)
#   scripts/fetch-flink-job-server.sh --pin [cluster]   resolve afresh and rewrite jars.sha256 (trust on first use)
#
# Maven and Java live on the host: inside the runtime sandbox (DLQOS_HOST_ROOT set) this runs on the host, the
# way scripts/podman.sh does; the sandbox sees the result under $DLQOS_HOST_ROOT (pipeline/beam/flink.py).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
run_on_host "${BASH_SOURCE[0]}" "$@"

PIN=; [ "${1:-}" = --pin ] && { PIN=1; shift; }
# the set: its pom and lock folder, its cache folder (must match pipeline/beam/flink*.py), its jar and main class
case "${1:-job-server}" in
  job-server) SET=flink-job-server SERVER=beam-2.62.0-flink-1.19 JAR=job-server.jar
              MAIN_CLASS=org.apache.beam.runners.flink.FlinkJobServerDriver ;;
  cluster) SET=flink-cluster SERVER=flink-1.19.0-cluster JAR=cluster.jar MAIN_CLASS= ;;
  *) printf "[flink] error: unknown argument '%s' (usage: %s [--pin] [job-server|cluster])\n" "$1" "$0" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$SET
LOCK=$HERE/jars.sha256
if [ "$(id -u)" = 0 ]; then CACHE=${DLQOS_CACHE:-/var/cache/dlqos}; else CACHE=${DLQOS_CACHE:-$HOME/.cache/dlqos}; fi
DIR=$CACHE/flink/$SERVER

log() { printf '[flink] %s\n' "$*" >&2; }
die() { printf '[flink] error: %s\n' "$*" >&2; exit 2; }

lock_hash() { sha256sum "$LOCK" | cut -d' ' -f1; }

resolve() {  # resolve LIBDIR: the pom's runtime closure from Maven (checksums enforced) into LIBDIR
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Flink job server: apt-get install maven"
  rm -rf "$1"; mkdir -p "$1"
  mvn -B -Dstyle.color=never --strict-checksums -f "$HERE/pom.xml" -Dmaven.repo.local="$CACHE/flink/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -Dmdep.prependGroupId=true -DoutputDirectory="$1" \
    >"$CACHE/flink/maven.log" 2>&1 || die "Maven could not resolve $HERE/pom.xml; see $CACHE/flink/maven.log"
}

pin() {  # resolve afresh and write the lock file
  resolve "$DIR/lib"
  (cd "$DIR" && sha256sum lib/*.jar) > "$LOCK"
  log "pinned $(wc -l < "$LOCK") jars in $LOCK"
}

verify() {  # every jar the lock names is there with its sha256, else exit 2 naming the first bad one
  local bad
  [ -s "$LOCK" ] || die "no lock file $LOCK: run $0 --pin"
  bad=$(cd "$DIR" && sha256sum -c "$LOCK" 2>/dev/null | grep -v ': OK$' | head -1) || true
  [ -z "$bad" ] || die "job server jar check failed ($bad); $DIR does not match $LOCK"
}

pathing_jar() {  # $JAR: a manifest naming the main class (if any) and, as Class-Path, exactly the locked jars
  python3 - "$DIR/$JAR" "$MAIN_CLASS" "$LOCK" <<'PY'
import sys, zipfile
out, main, lock = sys.argv[1:]
class_path = "Class-Path: " + " ".join(line.split()[1] for line in open(lock) if line.strip())
lines = [class_path[i:i + 70] for i in range(0, len(class_path), 70)]  # manifest lines: 72 bytes at most
main = "Main-Class: " + main + "\r\n" if main else ""
manifest = "Manifest-Version: 1.0\r\n" + main + "\r\n ".join(lines) + "\r\n\r\n"
with zipfile.ZipFile(out + ".tmp", "w") as jar:
    jar.writestr("META-INF/MANIFEST.MF", manifest)
PY
  mv "$DIR/$JAR.tmp" "$DIR/$JAR"
}

build_loopback_bind() {  # the JVMs' bind() shim (pipeline/beam/flink.py: loopback_bind), rebuilt when its source changes
  local source=$(dirname "$HERE")/flink-job-server/loopback_bind.c target=$CACHE/flink/loopback-bind.so
  [ "$target" -nt "$source" ] && return
  command -v cc >/dev/null || die "a C compiler is needed to build $target: apt-get install gcc"
  mkdir -p "$CACHE/flink"
  cc -O2 -Wall -shared -fPIC -o "$target.tmp" "$source" -ldl || die "could not build $target from $source"
  mv "$target.tmp" "$target"
}

build_extension() {  # dlqos-flink.jar (pipeline/beam/flink.py: extension_jar), rebuilt when a source changes
  local sources=$(dirname "$HERE")/flink-job-server/java target=$CACHE/flink/dlqos-flink.jar build
  [ -f "$target" ] && [ -z "$(find "$sources" -name '*.java' -newer "$target")" ] && return
  command -v javac >/dev/null && command -v jar >/dev/null \
    || die "a JDK (javac, jar) is needed to build $target: apt-get install openjdk-17-jdk-headless"
  build=$(mktemp -d)
  javac -d "$build" -cp "$DIR/$JAR" $(find "$sources" -name '*.java') \
    || { rm -rf "$build"; die "could not build $target"; }
  mkdir -p "$build/META-INF/services"  # the registrar, found by Beam's ServiceLoader
  echo dlqos.flink.ResourcesOptionsRegistrar \
    > "$build/META-INF/services/org.apache.beam.sdk.options.PipelineOptionsRegistrar"
  jar cf "$target.tmp" -C "$build" . && mv "$target.tmp" "$target"
  rm -rf "$build"
}

build_loopback_bind
if [ -z "$PIN" ] && [ "$(cat "$DIR/.verified" 2>/dev/null)" = "$(lock_hash)" ] && [ -f "$DIR/$JAR" ]; then
  log "$DIR is in place (verified against $LOCK)"
else
  if [ -n "$PIN" ]; then pin; else rm -f "$DIR/.verified"; resolve "$DIR/lib"; fi
  verify
  pathing_jar
  lock_hash > "$DIR/.verified"
  log "verified $(wc -l < "$LOCK") jars; $DIR/$JAR"
fi
if [ "$SET" = flink-job-server ]; then build_extension; fi
