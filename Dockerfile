# syntax=docker/dockerfile:1
# The dlqos image: the Kubeflow pipeline image (PIPELINE_IMAGE) and the image of `dlqos` jobs.
# Build: docker build -t REGISTRY/dlqos:0.1.0 .   (BASE_IMAGE may point at a mirror; keep it pinned)
# Without a registry: scripts/build-image.sh (podman, a local Debian 13 base; `make image`).
# Behind an intercepting proxy, pass its CA bundle as the build secret `build-ca` (build time only: the final
# stage never sees it): --secret id=build-ca,src=/etc/ssl/certs/ca-certificates.crt
ARG BASE_IMAGE=python:3.13.5-slim-trixie

# Three stages: the locked dependencies (changes only with uv.lock), the project (every source change), the
# runtime. The runtime copies each, so a source change never rewrites the 3 GB dependency layer.
FROM ${BASE_IMAGE} AS deps
ARG UV_VERSION=0.13.9
# g++: pyfarmhash (a TFDV dependency) has no cp313 wheel and compiles. Pinned to Debian 13's version (hadolint DL3008).
RUN --mount=type=secret,id=build-ca \
    if [ -s /run/secrets/build-ca ]; then export PIP_CERT=/run/secrets/build-ca; fi \
 && apt-get update \
 && apt-get install -y --no-install-recommends "g++=4:14.2.0-1" \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY scripts/install-deps.sh scripts/
RUN --mount=type=secret,id=build-ca \
    if [ -s /run/secrets/build-ca ]; then export SSL_CERT_FILE=/run/secrets/build-ca; fi \
 && UV_NO_CACHE=1 scripts/install-deps.sh /opt/venv /usr/local/bin/python3

FROM deps AS build
COPY README.md ./
COPY common common
COPY models models
COPY dlqos dlqos
COPY pipeline pipeline
COPY components components
COPY data data
COPY serving serving
# The project goes beside the dependency venv, not into it.
RUN --mount=type=secret,id=build-ca \
    if [ -s /run/secrets/build-ca ]; then export SSL_CERT_FILE=/run/secrets/build-ca; fi \
 && uv pip install --python /opt/venv/bin/python --no-deps --no-cache --target /opt/dlqos .

FROM ${BASE_IMAGE}
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /opt/dlqos /opt/dlqos
# Everything the image writes goes under /work (HOME: the dataset cache, Keras' downloads, matplotlib's config)
# or /tmp (TMPDIR; Beam's ~52 MB per stage): the Kubernetes Job mounts volumes on both and keeps the root
# filesystem read-only. Without volumes (plain `docker run`), /work is the dlqos user's own directory.
RUN useradd --uid 10001 --home-dir /work --create-home --shell /usr/sbin/nologin dlqos
ENV PATH=/opt/dlqos/bin:/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/dlqos \
    HOME=/work \
    DLQOS_DATA_CACHE=/work/.cache/dlqos/datasets \
    MPLCONFIGDIR=/work/.cache/matplotlib \
    TMPDIR=/tmp \
    TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /work
ENTRYPOINT ["dlqos"]
CMD ["--help"]
