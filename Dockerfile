# syntax=docker/dockerfile:1
# The dlqos image: the Kubeflow pipeline image (PIPELINE_IMAGE) and the image of `dlqos` jobs.
# Build: docker build -t REGISTRY/dlqos:0.1.0 .   (BASE_IMAGE may point at a mirror; keep it pinned)
ARG BASE_IMAGE=python:3.13.5-slim-trixie

FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
# g++: pyfarmhash (a TFDV dependency) has no cp313 wheel and compiles. Pinned to Debian 13's version (hadolint DL3008).
RUN apt-get update \
 && apt-get install -y --no-install-recommends "g++=4:14.2.0-1" \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh /opt/venv /usr/local/bin/python3
COPY dlqos dlqos
COPY pipeline pipeline
COPY components components
COPY serving serving
RUN uv pip install --python /opt/venv/bin/python --no-deps --no-cache .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin dlqos
ENV PATH=/opt/venv/bin:$PATH \
    TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/dlqos
ENTRYPOINT ["dlqos"]
CMD ["--help"]
