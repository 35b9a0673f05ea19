#!/usr/bin/env bash
# tf-runtime.sh REQUIREMENTS SCRIPT [ARGS...]: run SCRIPT with the Python of a venv holding REQUIREMENTS (a
# hashed pip lock, e.g. serving/tensorflow-serving-2.19.txt: the TensorFlow of a TF Serving release), built
# once under the project's cache, keyed by the lock's content. TensorFlow releases support fewer Pythons than
# the runtime sandbox has, so the venv uses the host's (the first of python3.12 ... python3.9); inside the
# sandbox this runs on the host (scripts/host.sh), where /tmp and the checkout have the same paths.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/host.sh"
run_on_host "${BASH_SOURCE[0]}" "$@"

die() { printf 'tf-runtime.sh: error: %s\n' "$*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: tf-runtime.sh REQUIREMENTS SCRIPT [ARGS...]"
[ -f "$1" ] || die "no requirements file $1"
REQUIREMENTS=$1; shift
if [ "$(id -u)" = 0 ]; then CACHE=${DLQOS_CACHE:-/var/cache/dlqos}; else CACHE=${DLQOS_CACHE:-$HOME/.cache/dlqos}; fi
VENV="$CACHE/tf-runtime/$(basename "$REQUIREMENTS" .txt)-$(sha256sum "$REQUIREMENTS" | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$CACHE/tf-runtime"
  exec 9>"$CACHE/tf-runtime/.lock"; flock 9   # one builder; the others find its venv
  if [ ! -x "$VENV/bin/python" ]; then
    python=$(for candidate in python3.12 python3.11 python3.10 python3.9; do
      "$candidate" -c "import venv" 2>/dev/null && command -v "$candidate" && break; done) || die "no Python 3.9-3.12 on this host for $(basename "$REQUIREMENTS")"
    printf '[tf-runtime] building %s with %s\n' "$VENV" "$python" >&2
    rm -rf "$VENV.tmp"
    "$python" -m venv "$VENV.tmp"
    PIP_CACHE_DIR="$CACHE/pip-cache" "$VENV.tmp/bin/python" -m pip install -q --disable-pip-version-check \
      --require-hashes --only-binary :all: -r "$REQUIREMENTS" >&2
    mv "$VENV.tmp" "$VENV"
  fi
  flock -u 9
fi
exec "$VENV/bin/python" "$@"
