#!/usr/bin/env bash
# install-deps.sh VENV PYTHON [EXTRA...]: install the packages pinned in uv.lock (not the project itself) into
# the virtual environment VENV for interpreter PYTHON. The one install step shared by the Dockerfile and the
# Debian 13 sandbox (scripts/runtime.sh), so the sandbox exercises what the image does. Needs `uv` on PATH.
set -euo pipefail
venv=$1 python=$2
shift 2
extras=()
for extra in "$@"; do extras+=(--extra "$extra"); done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_PROJECT_ENVIRONMENT="$venv" UV_PYTHON_DOWNLOADS=never \
  exec uv sync --locked --no-install-project "${extras[@]}" --python "$python"
